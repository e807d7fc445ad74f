"""PyTorch reference for the hf-model bench (bench/hf-model.ts starts it).

It runs one phase of the bench on a Hugging Face model directory, as a transformers user
would, and prints its result as one JSON line (the fields of `HfPhaseResult` in
bench/hf-phases.ts):

- load: `LlamaForCausalLM.from_pretrained(dir, dtype=torch.float32)`, timed (imports are not);
- full: forward, the summed cross-entropy of the targets (sous's `cross_entropy`), backward,
  the global gradient norm (sous computes it every step), AdamW (betas 0.9/0.95, eps 1e-12,
  no weight decay: sous's `adamParams`), `--warmup` untimed steps then `--steps` timed ones;
- lora: the same on `get_peft_model` with rank `--rank`, alpha 32 (sous's default), no
  dropout, on q/k/v/o/gate/up/down_proj; skipped, saying so, when peft is not installed;
- sample: `generate(do_sample=False)` of `--new-tokens` tokens after the prompt (its
  key/value cache on, end-of-sequence ignored), one untimed request, then `--requests` timed.

`maxRssBytes` is the process's resident-set high-water mark at the end. Without
transformers the result says why, so the bench can measure sous alone.

Run from the repository root: `python3 bench/hf-torch-reference.py PHASE DIR --data FILE ...`.
"""

import argparse
import json
import resource
import sys
import time

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def max_rss_bytes():
    # Linux reports kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def emit(result):
    print(json.dumps({**result, "maxRssBytes": max_rss_bytes()}), flush=True)


def timed(action, count):
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def train(torch, model, rows, args, phase):
    import torch.nn.functional as F

    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5, betas=(0.9, 0.95), eps=1e-12, weight_decay=0.0)
    inputs, targets = rows[:, :-1], rows[:, 1:]

    def step():
        logits = model(input_ids=inputs).logits
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum")
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, float("inf"))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    timed(step, args.warmup)
    seconds = timed(step, args.steps)
    return {"phase": phase, "seconds": seconds, "trainedParameters": sum(p.numel() for p in params)}


def sample(torch, model, prompt, args):
    model.eval()
    ids = torch.tensor([prompt])
    tokens = []

    def request():
        with torch.no_grad():
            out = model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=False,
                max_new_tokens=args.new_tokens,
                min_new_tokens=args.new_tokens,
                pad_token_id=0,
            )
        tokens.append(out.shape[1] - ids.shape[1])

    request()
    tokens.clear()
    return {"phase": "sample", "seconds": timed(request, args.requests), "tokens": tokens}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("phase", choices=["load", "full", "lora", "sample"])
    parser.add_argument("dir")
    parser.add_argument("--data", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--new-tokens", type=int, required=True)
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--threads", type=int, required=True)
    args = parser.parse_args()
    try:
        import torch
        import transformers
        from transformers import LlamaForCausalLM
    except ImportError as error:
        emit({"phase": args.phase, "seconds": [], "failed": f"cannot import transformers ({error})"})
        return
    # Its loading bar would fill the bench's output.
    transformers.utils.logging.disable_progress_bar()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = f"torch {torch.__version__} CPU, transformers {transformers.__version__}"
    with open(args.data, encoding="utf-8") as file:
        data = json.load(file)

    started = time.perf_counter()
    model = LlamaForCausalLM.from_pretrained(args.dir, dtype=torch.float32)
    setup = time.perf_counter() - started
    if args.phase == "load":
        result = {"phase": "load", "seconds": [setup]}
    elif args.phase == "sample":
        result = sample(torch, model, data["prompt"], args)
    elif args.phase == "full":
        result = train(torch, model, torch.tensor(data["rows"]), args, "full")
    else:
        try:
            import peft
        except ImportError as error:
            emit({"phase": "lora", "seconds": [], "device": device, "threads": args.threads, "failed": f"peft is not installed ({error})"})
            return
        config = peft.LoraConfig(r=args.rank, lora_alpha=32, lora_dropout=0.0, target_modules=LORA_TARGETS)
        device += f", peft {peft.__version__}"
        result = train(torch, peft.get_peft_model(model, config), torch.tensor(data["rows"]), args, "lora")
    emit({**result, "setupSeconds": setup, "device": device, "threads": args.threads})


if __name__ == "__main__":
    sys.exit(main())
