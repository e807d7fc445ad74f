"""Write the Hugging Face fixtures that the TypeScript tests read.

    python3 scripts/hf-fixtures/make-fixtures.py            # writes into test/fixtures/
    python3 scripts/hf-fixtures/make-fixtures.py --out DIR  # writes into DIR/hf and DIR/safetensors

It writes, deterministically (seeded; a second run gives byte-identical files):

- safetensors/mixed.safetensors and mixed.json: tensors of dtype F32, F16 and BF16 written by the
  `safetensors` library, and each tensor's name, dtype, shape and values (row-major, as the exact
  float32 numbers), so a decoder can be checked without Python.
- hf/<name>/ for six tiny random-weight causal language models: what `save_pretrained` writes
  and reference.json with transformers' float32 logits, loss and greedy tokens.

Then it loads every model directory back with AutoModelForCausalLM.from_pretrained and checks
that the logits are the same, and that the greedy steps are not near ties. Any failure raises.
CI never runs this script; it only runs when the fixtures must change.
"""

import argparse
import json
import os
import shutil

import numpy as np
import safetensors
import safetensors.torch
import torch
import transformers
from transformers import (
    AutoModelForCausalLM,
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

# Default init draws weights from N(0, initializer_range); 0.02 makes logits all ~0, where
# parity proves little. 0.2 gives logits of order 1.
INIT_RANGE = 0.2
# transformers' init leaves norm weights at 1 and biases at 0, so a forward that skipped them
# would still match. They are redrawn: norm weights 1 + N(0, 0.2), biases N(0, 0.2).
ONE_D_STD = 0.2
# A greedy step whose top two logits are closer than this could flip on rounding differences.
MIN_GREEDY_MARGIN = 1e-3
# Random tiny models often fall into repeating one token; a constant continuation would let a
# broken forward that always picks the same token pass, so seeds are chosen to avoid it.
MIN_DISTINCT_GREEDY_TOKENS = 3

SMALL = dict(
    vocab_size=96,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    initializer_range=INIT_RANGE,
)


def exact(values):
    """Float32 values as Python floats: each float64 holds the float32 exactly."""
    return [float(v) for v in np.asarray(values, dtype=np.float32).reshape(-1)]


def write_mixed(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    tensors = {
        # -0.0 checks the sign survives; 3.1415927 and 1e-8 are not exact in float32.
        "f32_matrix": torch.tensor([[1.5, -2.25, 3.1415927], [1e-8, -1e20, -0.0]], dtype=torch.float32),
        "f32_scalar": torch.tensor(42.5, dtype=torch.float32),
        # Largest finite, smallest normal, smallest subnormal, and a value that rounds.
        "f16_vector": torch.tensor([1.0, -0.5, 65504.0, 6.103515625e-05, 5.960464477539063e-08, 0.333], dtype=torch.float16),
        "f16_cube": torch.linspace(-4.0, 3.0, 8, dtype=torch.float32).reshape(2, 2, 2).to(torch.float16),
        # Large, subnormal (bf16 keeps float32's exponent range) and rounded values.
        "bf16_matrix": torch.tensor([[1.0, -3.140625], [1e30, 9.183549615799121e-41], [0.1, -7.0]], dtype=torch.bfloat16),
        "bf16_empty": torch.zeros((0, 3), dtype=torch.bfloat16),
    }
    metadata = {"format": "pt", "note": "mixed"}
    safetensors.torch.save_file(tensors, os.path.join(out_dir, "mixed.safetensors"), metadata=metadata)
    names = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}
    described = [
        {"name": name, "dtype": names[t.dtype], "shape": list(t.shape), "values": exact(t.float().numpy())}
        for name, t in tensors.items()
    ]
    write_json(os.path.join(out_dir, "mixed.json"), {"metadata": metadata, "tensors": described})
    # The file must read back to the same values.
    loaded = safetensors.torch.load_file(os.path.join(out_dir, "mixed.safetensors"))
    for name, t in tensors.items():
        assert loaded[name].dtype == t.dtype and torch.equal(loaded[name], t), name


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=None, separators=(",", ":"))
        f.write("\n")


def perturb_one_d(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() != 1:
                continue
            noise = torch.randn(p.shape) * ONE_D_STD
            p.copy_(noise if name.endswith(".bias") else 1.0 + noise)


def build(cls, config, seed):
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = cls(config)
    perturb_one_d(model)
    return model.eval()


def legacy_rope(dir_path):
    """Rewrite config.json's rope settings the way transformers 4 wrote them.

    transformers 5 writes `rope_parameters` (holding rope_theta); checkpoints on the Hub were
    mostly written by transformers 4, with top-level `rope_theta` and `rope_scaling` (absent or
    null without scaling). The Llama fixtures use that older form so readers meet both.
    """
    path = os.path.join(dir_path, "config.json")
    with open(path) as f:
        config = json.load(f)
    rope = dict(config.pop("rope_parameters"))
    config["rope_theta"] = rope.pop("rope_theta")
    config["rope_scaling"] = None if rope.get("rope_type") == "default" else rope
    with open(path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")


def greedy(model, prompt, steps):
    """Greedy decode with a full forward per step (no cache), checking each step's margin."""
    ids = list(prompt)
    for _ in range(steps):
        with torch.no_grad():
            last = model(torch.tensor([ids])).logits[0, -1]
        top = torch.topk(last, 2).values
        margin = float(top[0] - top[1])
        assert margin > MIN_GREEDY_MARGIN, f"near tie in greedy step ({margin})"
        ids.append(int(torch.argmax(last)))
    tokens = ids[len(prompt):]
    assert len(set(tokens)) >= MIN_DISTINCT_GREEDY_TOKENS, f"greedy continuation repeats: {tokens}"
    return tokens


def reference(model, architecture, seed):
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(seed + 1)
    input_ids = torch.randint(0, vocab, (2, 8), generator=generator)
    prompt = torch.randint(0, vocab, (5,), generator=generator).tolist()
    with torch.no_grad():
        out = model(input_ids, labels=input_ids)
    tokens = greedy(model, prompt, 8)
    # transformers' own generate must agree. EOS must not stop it early or be suppressed
    # (min_new_tokens would mask EOS logits), so it gets a generation config without one.
    generation = transformers.GenerationConfig(do_sample=False, max_new_tokens=8, eos_token_id=None, pad_token_id=0)
    generated = model.generate(torch.tensor([prompt]), generation_config=generation)[0, len(prompt):].tolist()
    assert generated == tokens, f"generate {generated} != greedy {tokens}"
    return {
        "architecture": architecture,
        "input_ids": input_ids.tolist(),
        "logits": [[exact(row) for row in batch] for batch in out.logits.float().numpy()],
        "loss": float(out.loss),
        "greedy": {"prompt": prompt, "tokens": tokens},
    }


def models():
    """(name, model class, config, seed, options) for each fixture."""
    return [
        (
            "llama",
            LlamaForCausalLM,
            # Llama 3 rope scaling, sized so that the tiny rotary frequencies (head_dim 8,
            # theta 100: wavelengths 6.3, 19.9, 62.8, 199) fall in all three bands: kept
            # (< 32/4), smoothed (between) and divided by the factor (> 32).
            LlamaConfig(
                **SMALL,
                rope_theta=100.0,
                rope_scaling={
                    "rope_type": "llama3",
                    "factor": 8.0,
                    "low_freq_factor": 1.0,
                    "high_freq_factor": 4.0,
                    "original_max_position_embeddings": 32,
                },
            ),
            1,
            {"legacy_rope": True},
        ),
        (
            "llama-bf16-sharded",
            LlamaForCausalLM,
            LlamaConfig(**SMALL, tie_word_embeddings=False),
            2,
            {"legacy_rope": True, "dtype": torch.bfloat16, "max_shard_size": "20KB"},
        ),
        ("qwen2", Qwen2ForCausalLM, Qwen2Config(**SMALL, tie_word_embeddings=True), 3, {}),
        # head_dim 16 while hidden / heads = 8: q/k/v project to heads * 16 = 64.
        ("qwen3", Qwen3ForCausalLM, Qwen3Config(**SMALL, head_dim=16, tie_word_embeddings=False), 14, {}),
        ("mistral", MistralForCausalLM, MistralConfig(**SMALL), 5, {}),
        (
            "gpt2",
            GPT2LMHeadModel,
            # GPT-2's default bos/eos (50256) lie outside this vocabulary.
            GPT2Config(
                vocab_size=96,
                n_embd=32,
                n_layer=2,
                n_head=4,
                n_positions=64,
                initializer_range=INIT_RANGE,
                bos_token_id=95,
                eos_token_id=95,
            ),
            6,
            {},
        ),
    ]


def write_model(root, name, cls, config, seed, options):
    dir_path = os.path.join(root, name)
    shutil.rmtree(dir_path, ignore_errors=True)
    model = build(cls, config, seed)
    architecture = type(model).__name__
    dtype = options.get("dtype")
    saved = model.to(dtype) if dtype is not None else model
    kwargs = {"max_shard_size": options["max_shard_size"]} if "max_shard_size" in options else {}
    saved.save_pretrained(dir_path, safe_serialization=True, **kwargs)
    if options.get("legacy_rope"):
        legacy_rope(dir_path)
    # References come from the files as saved, read as float32 (for BF16: exactly the BF16
    # values), through the same loading path a user would take.
    loaded = AutoModelForCausalLM.from_pretrained(dir_path, dtype=torch.float32, attn_implementation="eager").eval()
    assert type(loaded).__name__ == architecture
    if dtype is None:
        # The in-memory model and the reloaded one must compute the same.
        ids = torch.arange(16).reshape(2, 8) % config.vocab_size
        with torch.no_grad():
            assert torch.equal(model(ids).logits, loaded(ids).logits), f"{name}: reload changed logits"
    else:
        for p in loaded.parameters():
            assert p.dtype == torch.float32
            assert torch.equal(p, p.to(dtype).float()), f"{name}: weights are not {dtype} values"
    ref = reference(loaded, architecture, seed)
    write_json(os.path.join(dir_path, "reference.json"), ref)
    check_reference(dir_path, ref)
    files = sorted(os.listdir(dir_path))
    if "max_shard_size" in options:
        shards = [f for f in files if f.startswith("model-") and f.endswith(".safetensors")]
        assert len(shards) >= 2 and "model.safetensors.index.json" in files, f"{name}: not sharded: {files}"
    return files


def check_reference(dir_path, ref):
    """Load the directory afresh and recompute the logits from reference.json's input_ids."""
    model = AutoModelForCausalLM.from_pretrained(dir_path, dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor(ref["input_ids"])).logits
    expected = torch.tensor(ref["logits"], dtype=torch.float32)
    # This load uses the default attention (sdpa), so allow rounding, far inside 1e-4.
    difference = float((logits - expected).abs().max() / expected.abs().max())
    assert difference < 1e-5, f"{dir_path}: reloaded logits differ by {difference}"
    assert float(expected.std()) > 0.3, f"{dir_path}: logits are nearly constant"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--out", default=os.path.join(here, "..", "..", "test", "fixtures"))
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    write_mixed(os.path.join(args.out, "safetensors"))
    root = os.path.join(args.out, "hf")
    for name, cls, config, seed, options in models():
        files = write_model(root, name, cls, config, seed, options)
        print(f"{name}: {', '.join(files)}")


if __name__ == "__main__":
    main()
