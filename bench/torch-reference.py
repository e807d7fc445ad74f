"""PyTorch reference for `npm run bench`'s local-backend measurements.

It implements in PyTorch what bench/local-backend.ts measures on sous's TensorFlow.js
backend, so that the bench can say how far sous is from a plain eager PyTorch loop on the
same machine:

- the transformer of examples/sft-arithmetic, as src/adapters/local/transformer.ts builds it:
  byte tokenizer (vocab 261: 256 bytes and five specials, `<|eos|>` = 257), context 64,
  width 64, 2 pre-LayerNorm blocks of 4 heads, learned position embeddings, no key bias,
  tanh-GELU MLP of 4 x width, untied unembedding: 137,472 parameters, checked at start;
- batches of 16 consecutive conversations of examples/sft-arithmetic/data/train.jsonl,
  rendered as `User: {question}\\n\\nAssistant: {answer}<|eos|>`, input = all tokens but the
  last, targets = all but the first, weight 1 on the answer and `<|eos|>`, right-padded with
  zeros to the batch's longest row (as sous pads); the loss is the weighted sum of
  -log p(target) (the protocol's `cross_entropy`, a sum, not a mean);
- an MLP 784-128-10 (ReLU) on batches of 64 random inputs with random class ids;
- a step = forward, backward, AdamW (lr 1e-3, betas 0.9/0.95, eps 1e-12, no weight decay:
  sous's `adamParams({ learning_rate: 1e-3 })`) and the global gradient norm, which sous
  computes and reads back every step; `grad_clip_norm` is 0 (off) by default, as in sous,
  and `--grad-clip-norm X` clips to X with torch's rule, which sous copies;
- sampling: `--samples` sequences of `--max-tokens` new tokens from the prompt
  `User: Add 12 and 34.\\n\\nAssistant:`, multinomial at temperature 1, with a key/value cache
  as sous's sampler keeps: the loop a PyTorch user would write.

Timing follows the TypeScript bench: `--warmup` untimed steps per model and one untimed
sample request, then rounds; a round times `--steps` transformer steps, five times as many
MLP steps, and `--requests` sample requests. Alone, the script runs `--rounds` rounds and prints one
JSON line with the rounds and their medians. With `--lockstep` (how `npm run bench` runs
it) it prints a JSON header line after the warmup, then runs one round for each line it
reads on stdin and prints that round as a JSON line, so the bench can interleave it with
sous's rounds; it stops at the end of stdin.

Install a CPU-only PyTorch (the default wheel on Linux pulls in CUDA libraries):

    python3 -m pip install torch --index-url https://download.pytorch.org/whl/cpu

Run from the repository root, e.g. `python3 bench/torch-reference.py --threads 1`.
"""

import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn.functional as F

TRAIN_FILE = "examples/sft-arithmetic/data/train.jsonl"
SPECIAL_TOKENS = ["<|bos|>", "<|eos|>", "<|pad|>", "<|im_start|>", "<|im_end|>"]
EOS = 256 + SPECIAL_TOKENS.index("<|eos|>")
VOCAB, CONTEXT, WIDTH, LAYERS, HEADS = 256 + len(SPECIAL_TOKENS), 64, 64, 2, 4
TRANSFORMER_PARAMETERS = 137_472
TRANSFORMER_BATCH = 16
MLP_SIZES, MLP_BATCH = (784, 128, 10), 64
# The MLP steps several times faster than the transformer; it takes this many times the steps.
MLP_STEP_FACTOR = 5
SAMPLE_QUESTION = "Add 12 and 34."


def encode(text):
    """Byte tokenizer: the UTF-8 bytes of the text are the ids."""
    return list(text.encode("utf-8"))


def prompt_text(question):
    """The prompt as sous's role-colon renderer writes it."""
    return f"User: {question}\n\nAssistant:"


def arithmetic_batches(path):
    """The training conversations as padded (ids, targets, weights) batches of 16, last partial one dropped."""
    rows = []
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            if not line.strip():
                continue
            messages = json.loads(line)["messages"]
            prompt = encode(prompt_text(messages[0]["content"]))
            tokens = prompt + encode(" " + messages[1]["content"]) + [EOS]
            weights = [1.0 if index >= len(prompt) else 0.0 for index in range(len(tokens))]
            rows.append((tokens[:-1], tokens[1:], weights[1:]))
    batches = []
    for start in range(0, len(rows) - TRANSFORMER_BATCH + 1, TRANSFORMER_BATCH):
        chunk = rows[start:start + TRANSFORMER_BATCH]
        length = max(len(ids) for ids, _, _ in chunk)
        # Padding reads token 0 and predicts token 0 with weight 0: it adds nothing to the loss.
        pad = lambda values, fill: [row + [fill] * (length - len(row)) for row in values]
        batches.append((
            torch.tensor(pad([ids for ids, _, _ in chunk], 0)),
            torch.tensor(pad([targets for _, targets, _ in chunk], 0)),
            torch.tensor(pad([weights for _, _, weights in chunk], 0.0)),
        ))
    return batches


class Transformer(torch.nn.Module):
    """GPT-2-style decoder with sous's parameter names and shapes (matrices are [in, out])."""

    def __init__(self):
        super().__init__()
        standard = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * 0.02)
        # Projections into the residual stream shrink with depth, as in sous (GPT-2 init).
        residual = lambda *shape: torch.nn.Parameter(torch.randn(*shape) * (0.02 / math.sqrt(2 * LAYERS)))
        zeros = lambda *shape: torch.nn.Parameter(torch.zeros(*shape))
        ones = lambda *shape: torch.nn.Parameter(torch.ones(*shape))
        self.token_embedding = standard(VOCAB, WIDTH)
        self.position_embedding = standard(CONTEXT, WIDTH)
        self.layers = torch.nn.ModuleList()
        for _ in range(LAYERS):
            layer = torch.nn.Module()
            layer.ln1_gamma, layer.ln1_beta = ones(WIDTH), zeros(WIDTH)
            layer.wq, layer.bq = standard(WIDTH, WIDTH), zeros(WIDTH)
            layer.wk = standard(WIDTH, WIDTH)  # no key bias, as in sous
            layer.wv, layer.bv = standard(WIDTH, WIDTH), zeros(WIDTH)
            layer.wo, layer.bo = residual(WIDTH, WIDTH), zeros(WIDTH)
            layer.ln2_gamma, layer.ln2_beta = ones(WIDTH), zeros(WIDTH)
            layer.w1, layer.b1 = standard(WIDTH, 4 * WIDTH), zeros(4 * WIDTH)
            layer.w2, layer.b2 = residual(4 * WIDTH, WIDTH), zeros(WIDTH)
            self.layers.append(layer)
        self.ln_final_gamma, self.ln_final_beta = ones(WIDTH), zeros(WIDTH)
        self.unembed = standard(WIDTH, VOCAB)

    def forward(self, ids, cache=None, start=0):
        """Logits [b, t, vocab] for ids [b, t] at positions start..start+t.

        With a cache (per layer a pair of [b, heads, context, head width] tensors), the new
        keys and values are written into it and the new positions attend to all cached ones.
        """
        batch, length = ids.shape
        head_width = WIDTH // HEADS
        split = lambda t: t.view(batch, length, HEADS, head_width).transpose(1, 2)
        x = F.embedding(ids, self.token_embedding) + self.position_embedding[start:start + length]
        for index, layer in enumerate(self.layers):
            h = F.layer_norm(x, (WIDTH,), layer.ln1_gamma, layer.ln1_beta, 1e-5)
            q, k, v = split(h @ layer.wq + layer.bq), split(h @ layer.wk), split(h @ layer.wv + layer.bv)
            if cache is not None:
                keys, values = cache[index]
                keys[:, :, start:start + length] = k
                values[:, :, start:start + length] = v
                k, v = keys[:, :, :start + length], values[:, :, :start + length]
            # One new position attends to every cached one; a block of positions is causal.
            mixed = F.scaled_dot_product_attention(q, k, v, is_causal=length > 1)
            x = x + mixed.transpose(1, 2).reshape(batch, length, WIDTH) @ layer.wo + layer.bo
            h = F.layer_norm(x, (WIDTH,), layer.ln2_gamma, layer.ln2_beta, 1e-5)
            x = x + F.gelu(h @ layer.w1 + layer.b1, approximate="tanh") @ layer.w2 + layer.b2
        return F.layer_norm(x, (WIDTH,), self.ln_final_gamma, self.ln_final_beta, 1e-5) @ self.unembed


class Mlp(torch.nn.Module):
    """784-128-10 with ReLU, He-initialised weights [in, out] and zero biases, as sous's MLP."""

    def __init__(self):
        super().__init__()
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for fan_in, fan_out in zip(MLP_SIZES, MLP_SIZES[1:]):
            self.weights.append(torch.nn.Parameter(torch.randn(fan_in, fan_out) * math.sqrt(2 / fan_in)))
            self.biases.append(torch.nn.Parameter(torch.zeros(fan_out)))

    def forward(self, x):
        for index, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = x @ w + b
            if index < len(self.weights) - 1:
                x = torch.relu(x)
        return x


def summed_cross_entropy(logits, targets, weights):
    """The protocol's cross_entropy: the weighted sum of -log p(target)."""
    logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    return -(logprobs * weights).sum()


def trainer(model, batches, loss_of, grad_clip_norm):
    """`run(steps)`: that many AdamW steps over `batches` in turn, as sous's forwardBackward + optimStep."""
    parameters = list(model.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=1e-3, betas=(0.9, 0.95), eps=1e-12, weight_decay=0.0)
    position = 0

    def run(steps):
        nonlocal position
        for _ in range(steps):
            batch = batches[position % len(batches)]
            position += 1
            optimizer.zero_grad(set_to_none=True)
            loss = loss_of(model, batch)
            loss.backward()
            grads = [p.grad for p in parameters]
            # sous reads the loss and the global gradient norm back every step; so does this.
            norm = torch.nn.utils.get_total_norm(grads)
            if grad_clip_norm > 0:
                torch.nn.utils.clip_grads_with_norm_(parameters, grad_clip_norm, norm)
            optimizer.step()
            loss.item()
            norm.item()

    return run


@torch.inference_mode()
def sample(model, prompt, samples, max_tokens, generator):
    """Draws `samples` continuations of `prompt` together with a key/value cache; returns the number of new tokens."""
    room = min(max_tokens, CONTEXT - len(prompt))
    head_width = WIDTH // HEADS
    cache = [(torch.empty(samples, HEADS, CONTEXT, head_width), torch.empty(samples, HEADS, CONTEXT, head_width))
             for _ in range(LAYERS)]
    ids = torch.tensor([prompt] * samples)
    logits = model(ids, cache, 0)[:, -1]
    position = len(prompt)
    for step in range(room):
        # Temperature 1: the softmax of the logits themselves.
        token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
        if step + 1 < room:
            logits = model(token, cache, position)[:, -1]
            position += 1
    return samples * room


def seconds(action):
    """How long `action()` takes, in seconds."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1)")
    parser.add_argument("--steps", type=int, default=20, help="timed transformer steps per round (20); the MLP takes 5x")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per model first (2)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds when not in lockstep (3)")
    parser.add_argument("--samples", type=int, default=8, help="sequences per sample request (8)")
    parser.add_argument("--max-tokens", type=int, default=32, help="new tokens per sequence (32)")
    parser.add_argument("--requests", type=int, default=5, help="sample requests per round, timed together (5)")
    parser.add_argument("--grad-clip-norm", type=float, default=0.0, help="clip the global gradient norm to this (0 = off, sous's default)")
    parser.add_argument("--lockstep", action="store_true", help="one round per line read on stdin (how npm run bench drives it)")
    parser.add_argument("--train-file", default=TRAIN_FILE)
    options = parser.parse_args()

    torch.set_num_threads(options.threads)
    torch.manual_seed(0)
    transformer, mlp = Transformer(), Mlp()
    transformer_parameters = sum(p.numel() for p in transformer.parameters())
    if transformer_parameters != TRANSFORMER_PARAMETERS:
        sys.exit(f"the transformer has {transformer_parameters} parameters, sous's has {TRANSFORMER_PARAMETERS}")

    text = arithmetic_batches(options.train_file)
    data = torch.Generator().manual_seed(7)
    images = [(torch.rand(MLP_BATCH, MLP_SIZES[0], generator=data),
               torch.randint(0, MLP_SIZES[-1], (MLP_BATCH,), generator=data)) for _ in range(4)]
    train_transformer = trainer(transformer, text, lambda m, b: summed_cross_entropy(m(b[0]), b[1], b[2]), options.grad_clip_norm)
    train_mlp = trainer(mlp, images, lambda m, b: F.cross_entropy(m(b[0]), b[1], reduction="sum"), options.grad_clip_norm)
    mlp_steps = options.steps * MLP_STEP_FACTOR

    prompt = encode(prompt_text(SAMPLE_QUESTION))
    generator = torch.Generator().manual_seed(0)
    train_transformer(options.warmup)
    train_mlp(options.warmup)
    sample(transformer, prompt, options.samples, options.max_tokens, generator)

    def round_result():
        transformer_seconds = seconds(lambda: train_transformer(options.steps))
        mlp_seconds = seconds(lambda: train_mlp(mlp_steps))
        started = time.perf_counter()
        tokens = sum(sample(transformer, prompt, options.samples, options.max_tokens, generator) for _ in range(options.requests))
        return {
            "transformer": options.steps / transformer_seconds,
            "mlp": mlp_steps / mlp_seconds,
            "sampling": tokens / (time.perf_counter() - started),
        }

    header = {
        "device": f"torch {torch.__version__} cpu, {torch.get_num_threads()} thread(s)",
        "threads": torch.get_num_threads(),
        "transformerParameters": transformer_parameters,
        "mlpParameters": sum(p.numel() for p in mlp.parameters()),
    }
    if options.lockstep:
        print(json.dumps(header), flush=True)
        for _ in sys.stdin:
            print(json.dumps(round_result()), flush=True)
        return
    rounds = [round_result() for _ in range(options.rounds)]
    medians = {key: statistics.median(r[key] for r in rounds) for key in ("transformer", "mlp", "sampling")}
    print(json.dumps({**header, "rounds": rounds, "median": medians}))


if __name__ == "__main__":
    main()
