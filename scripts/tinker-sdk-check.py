"""Check that the official Tinker Python SDK can train and sample against `sous serve`.

Run a server, then this script with the same key (the SDK wants keys that start with `tml-`):

    SOUS_SERVE_API_KEY=tml-local-check npx sous serve --port 8765 --device wasm --state-dir /tmp/sdk-state
    TINKER_BASE_URL=http://127.0.0.1:8765 TINKER_API_KEY=tml-local-check \
        PYTHONPATH=<tinker-sdk>/src python3 scripts/tinker-sdk-check.py

The SDK can run from a source checkout (PYTHONPATH=<tinker-sdk>/src) with its dependencies
installed, except pyqwest: `sous serve` tells the SDK to use httpx's own transport.

It creates a LoRA training client on a tiny byte-level transformer (the sous extension
`user_metadata.sous` tells the local backend what to build), trains a few steps with
cross_entropy, checks the loss falls, saves state and sampler weights, samples with a seed,
computes logprobs and loads the state back. Any failure exits non-zero.
"""

import asyncio
import os
import sys

import tinker
from tinker import types

ARCHITECTURE = {"kind": "transformer", "vocabSize": 256, "contextLength": 64, "width": 64, "layers": 2, "heads": 4}
TEXTS = [b"the cat sat on the mat", b"the dog sat on the log", b"a cat and a dog"]
STEPS = 10


def check(condition: bool, message: str) -> None:
    """Fails the check (exit status 1) unless `condition` holds; unlike assert, never skipped."""
    if not condition:
        sys.exit(f"FAILED: {message}")


def next_token_datum(text: bytes) -> types.Datum:
    """A byte sequence as one next-token-prediction example: inputs t[:-1], targets t[1:]."""
    tokens = list(text)
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
    )


async def main() -> None:
    for name in ("TINKER_BASE_URL", "TINKER_API_KEY"):
        if not os.environ.get(name):
            sys.exit(f"set {name}")
    service = tinker.ServiceClient()

    capabilities = await service.get_server_capabilities_async()
    print("models:", [m.model_name for m in capabilities.supported_models])

    training = await service.create_lora_training_client_async(
        "sous-tiny", rank=4, seed=0, user_metadata={"sous": {"architecture": ARCHITECTURE, "seed": 0}}
    )
    info = await training.get_info_async()
    print("model:", info.model_id)

    data = [next_token_datum(text) for text in TEXTS]
    tokens = sum(len(text) - 1 for text in TEXTS)
    losses = []
    for step in range(STEPS):
        # Double await: the first submits (in order), the second waits for the result.
        fwd_bwd = await training.forward_backward_async(data, "cross_entropy")
        optim = await training.optim_step_async(types.AdamParams(learning_rate=1e-2))
        output = await fwd_bwd
        await optim
        losses.append(output.metrics["loss:sum"] / tokens)
        print(f"step {step}: loss per token {losses[-1]:.4f}")
    check(losses[-1] < losses[0], f"loss did not fall: {losses}")

    state = await (await training.save_state_async("check-state"))
    print("state:", state.path)
    sampler = await (await training.save_weights_for_sampler_async("check-sampler"))
    print("sampler weights:", sampler.path)

    sampling = await service.create_sampling_client_async(model_path=sampler.path)
    prompt = types.ModelInput.from_ints(list(b"the cat"))
    params = types.SamplingParams(max_tokens=8, seed=7, temperature=1.0)
    first = await sampling.sample_async(prompt, num_samples=2, sampling_params=params)
    again = await sampling.sample_async(prompt, num_samples=2, sampling_params=params)
    for sequence in first.sequences:
        print("sample:", bytes(sequence.tokens), sequence.stop_reason)
    check([s.tokens for s in first.sequences] == [s.tokens for s in again.sequences], "seeded samples differ")

    logprobs = await sampling.compute_logprobs_async(prompt)
    print("prompt logprobs:", [None if lp is None else round(lp, 3) for lp in logprobs])
    check(len(logprobs) == prompt.length and logprobs[0] is None, f"prompt logprobs: {logprobs}")

    loaded = await (await training.load_state_async(state.path))
    print("loaded:", loaded.path)
    print("OK")


if __name__ == "__main__":
    asyncio.run(main())
