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
computes logprobs and loads the state back. Then, through the SDK's `RestClient`, it lists the
training runs and checkpoints, downloads a checkpoint's archive, sets and clears a checkpoint's
time to live, and deletes one (a load of it then fails). It makes more sampling clients than
the server keeps loaded (8 per key) and samples with the first again: the SDK never makes a
new sampling client for a session it holds, so the server must build a freed one again.

With TINKER_FAULTS_BASE_URL set to a second server started with `--faults 410=0.3,seed=1`, it
trains and samples there too: the server answers a 410 drawn for a training future's poll as
a 408 (it keeps a training result until it is retrieved; the SDK cannot survive a 410 there),
while a sample's poll gets the 410 and the SDK submits the sample again. The losses must equal
the fault-free run's step for step (each step applied exactly once), and the seeded samples
too. Any failure exits non-zero.

With TINKER_HF_BASE_MODEL naming a base model that the server's `--base-models` file gives as
a Hugging Face directory (run-tinker-sdk-check.sh serves the tiny Llama fixture as
`tiny-llama`), it also LoRA-trains that model as the SDK trains any named model, with no sous
extension: on two token sequences that end in the model's EOS (id 2), then samples greedily.
Without `stop` the sample must end at that EOS; with `stop=[]` it must run to max_tokens.
"""

import asyncio
import io
import os
import sys
import tarfile
import urllib.request

import tinker
from tinker import types

ARCHITECTURE = {"kind": "transformer", "vocabSize": 256, "contextLength": 64, "width": 64, "layers": 2, "heads": 4}
TEXTS = [b"the cat sat on the mat", b"the dog sat on the log", b"a cat and a dog"]
STEPS = 10
# More than the 8 sampling sessions a key of `sous serve` holds loaded at once by default.
SAMPLERS = 10


def check(condition: bool, message: str) -> None:
    """Fails the check (exit status 1) unless `condition` holds; unlike assert, never skipped."""
    if not condition:
        sys.exit(f"FAILED: {message}")


def next_token_datum(tokens: list[int]) -> types.Datum:
    """A token sequence (bytes, for the tiny model) as one next-token-prediction example: inputs t[:-1], targets t[1:]."""
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
    )


async def train(service: tinker.ServiceClient) -> tuple[tinker.TrainingClient, list[float]]:
    """A LoRA training client of the tiny model, trained STEPS steps; the loss per token of each."""
    training = await service.create_lora_training_client_async(
        "sous-tiny", rank=4, seed=0, user_metadata={"sous": {"architecture": ARCHITECTURE, "seed": 0}}
    )
    data = [next_token_datum(list(text)) for text in TEXTS]
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
    return training, losses


PROMPT = types.ModelInput.from_ints(list(b"the cat"))
PARAMS = types.SamplingParams(max_tokens=8, seed=7, temperature=1.0)


def tokens_of(response: types.SampleResponse) -> list[list[int]]:
    return [list(sequence.tokens) for sequence in response.sequences]


async def main() -> None:
    for name in ("TINKER_BASE_URL", "TINKER_API_KEY"):
        if not os.environ.get(name):
            sys.exit(f"set {name}")
    service = tinker.ServiceClient()

    capabilities = await service.get_server_capabilities_async()
    print("models:", [m.model_name for m in capabilities.supported_models])

    training, losses = await train(service)
    info = await training.get_info_async()
    print("model:", info.model_id)

    state = await (await training.save_state_async("check-state"))
    print("state:", state.path)
    sampler = await (await training.save_weights_for_sampler_async("check-sampler"))
    print("sampler weights:", sampler.path)

    sampling = await service.create_sampling_client_async(model_path=sampler.path)
    first = await sampling.sample_async(PROMPT, num_samples=2, sampling_params=PARAMS)
    again = await sampling.sample_async(PROMPT, num_samples=2, sampling_params=PARAMS)
    for sequence in first.sequences:
        print("sample:", bytes(sequence.tokens), sequence.stop_reason)
    check(tokens_of(first) == tokens_of(again), "seeded samples differ")

    logprobs = await sampling.compute_logprobs_async(PROMPT)
    print("prompt logprobs:", [None if lp is None else round(lp, 3) for lp in logprobs])
    check(len(logprobs) == PROMPT.length and logprobs[0] is None, f"prompt logprobs: {logprobs}")

    await check_many_samplers(service, training, sampler.path, sampling, tokens_of(first))

    loaded = await (await training.load_state_async(state.path))
    print("loaded:", loaded.path)
    await check_rest_api(service, training, info.model_id, state.path, sampler.path)

    hf_model = os.environ.get("TINKER_HF_BASE_MODEL")
    if hf_model:
        await check_hf_base_model(service, hf_model, capabilities)

    faults_url = os.environ.get("TINKER_FAULTS_BASE_URL")
    if faults_url:
        await check_under_faults(tinker.ServiceClient(base_url=faults_url), losses, tokens_of(first))
    print("OK")


async def check_many_samplers(service, training, sampler_path: str, sampling, expected: list[list[int]]) -> None:
    """SAMPLERS more sampling clients, half from the checkpoint and half from unnamed saves; then the first ones sample as before."""
    clients = [await service.create_sampling_client_async(model_path=sampler_path) for _ in range(SAMPLERS // 2)]
    saved = [await training.save_weights_and_get_sampling_client_async() for _ in range(SAMPLERS - len(clients))]
    for client in clients + saved:
        check(tokens_of(await client.sample_async(PROMPT, num_samples=2, sampling_params=PARAMS)) == expected, "a new sampler samples otherwise")
    # The first sampler and the first unnamed one were freed to make room by now; both still sample.
    check(tokens_of(await sampling.sample_async(PROMPT, num_samples=2, sampling_params=PARAMS)) == expected, "the first sampler samples otherwise")
    check(tokens_of(await saved[0].sample_async(PROMPT, num_samples=2, sampling_params=PARAMS)) == expected, "the first unnamed sampler samples otherwise")
    print(f"samplers: {SAMPLERS + 1} made, the first ones still sample as before")


# Token ids of the tiny Llama fixture (vocab 96), each sequence ending in its EOS.
HF_EOS = 2
HF_SEQUENCES = [[5, 6, 7, 8, 9, HF_EOS], [40, 41, 42, 43, HF_EOS]]
HF_STEPS = 16


async def check_hf_base_model(service: tinker.ServiceClient, name: str, capabilities) -> None:
    """LoRA on a Hugging Face base model named by the server: the loss falls tenfold, sampling stops at its EOS."""
    listed = {m.model_name: m.max_context_length for m in capabilities.supported_models}
    check(name in listed, f"{name} is not among the server's models: {listed}")
    training = await service.create_lora_training_client_async(name, rank=8, seed=0)
    data = [next_token_datum(tokens) for tokens in HF_SEQUENCES]
    targets = sum(len(tokens) - 1 for tokens in HF_SEQUENCES)
    losses = []
    for _ in range(HF_STEPS):
        fwd_bwd = await training.forward_backward_async(data, "cross_entropy")
        optim = await training.optim_step_async(types.AdamParams(learning_rate=1e-2))
        losses.append((await fwd_bwd).metrics["loss:sum"] / targets)
        await optim
    print(f"{name} (context {listed[name]}): LoRA rank 8, loss per token {losses[0]:.4f} -> {losses[-1]:.4f} in {HF_STEPS} steps")
    check(losses[-1] < losses[0] / 10, f"{name}: loss did not fall tenfold: {losses}")
    state = await (await training.save_state_async("hf-state"))
    print(f"{name} state:", state.path)
    sampling = await training.save_weights_and_get_sampling_client_async()
    prompt = types.ModelInput.from_ints([5, 6, 7])
    greedy = types.SamplingParams(max_tokens=8, temperature=0.0, seed=1)
    stopped = (await sampling.sample_async(prompt, num_samples=1, sampling_params=greedy)).sequences[0]
    print(f"{name} sample:", list(stopped.tokens), stopped.stop_reason)
    check(list(stopped.tokens) == [8, 9, HF_EOS] and stopped.stop_reason == "stop", f"{name}: sample did not end at EOS: {stopped}")
    unstopped = (await sampling.sample_async(prompt, num_samples=1, sampling_params=types.SamplingParams(max_tokens=8, temperature=0.0, seed=1, stop=[]))).sequences[0]
    print(f"{name} sample with stop=[]:", list(unstopped.tokens), unstopped.stop_reason)
    check(len(unstopped.tokens) == 8 and unstopped.stop_reason == "length", f"{name}: stop=[] still stopped: {unstopped}")


async def check_under_faults(service, expected_losses: list[float], expected_tokens: list[list[int]]) -> None:
    """The same training and sampling against a server that injects 410s into polls: the same losses, each step applied once."""
    training, losses = await train(service)
    check(
        all(abs(got - want) <= 1e-5 * abs(want) for got, want in zip(losses, expected_losses, strict=True)),
        f"losses under faults differ from the fault-free run: {losses} vs {expected_losses}",
    )
    sampling = await training.save_weights_and_get_sampling_client_async()
    for _ in range(5):
        check(tokens_of(await sampling.sample_async(PROMPT, num_samples=2, sampling_params=PARAMS)) == expected_tokens, "samples under faults differ")
    print(f"under 410 faults: {STEPS} steps with the fault-free losses, 5 seeded samples as before")


async def check_rest_api(service, training, model_id: str, state_path: str, sampler_path: str) -> None:
    """The RestClient calls: runs and checkpoints listed, an archive downloaded, a TTL set, a delete."""
    rest = service.create_rest_client()
    runs = await rest.list_training_runs_async(limit=10)
    check(model_id in [run.training_run_id for run in runs.training_runs], f"training runs: {runs}")
    run = await rest.get_training_run_async(model_id)
    check(run.last_checkpoint is not None and run.last_checkpoint.tinker_path == state_path, f"run: {run}")
    check(run.last_sampler_checkpoint is not None and run.last_sampler_checkpoint.tinker_path == sampler_path, f"run: {run}")
    print("training runs:", runs.cursor.total_count, "last checkpoint:", run.last_checkpoint.checkpoint_id)

    listed = await rest.list_checkpoints_async(model_id)
    by_path = {checkpoint.tinker_path: checkpoint for checkpoint in listed.checkpoints}
    check({state_path, sampler_path} <= set(by_path), f"checkpoints: {listed}")
    mine = await rest.list_user_checkpoints_async(limit=1)
    check(len(mine.checkpoints) == 1 and mine.cursor is not None and mine.cursor.total_count >= 2, f"user checkpoints: {mine}")

    # The link works without the key, as a presigned URL would: plain urllib, like `tinker checkpoint download`.
    archive = await rest.get_checkpoint_archive_url_from_tinker_path_async(state_path)
    with urllib.request.urlopen(archive.url, timeout=60) as response:
        data = response.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
    check([(m.name, m.size) for m in members] == [("checkpoint.state", by_path[state_path].size_bytes)], f"archive: {members}")
    print("archive:", len(data), "bytes, expires", archive.expires.isoformat())

    await rest.set_checkpoint_ttl_from_tinker_path_async(sampler_path, 3600)
    expiring = {c.tinker_path: c for c in (await rest.list_checkpoints_async(model_id)).checkpoints}[sampler_path]
    check(expiring.expires_at is not None, f"no expiry after setting a TTL: {expiring}")
    try:
        await rest.set_checkpoint_ttl_from_tinker_path_async(sampler_path, 0)
        check(False, "a TTL of 0 was accepted")
    except tinker.BadRequestError as error:
        print("TTL 0 refused:", error)
    await rest.set_checkpoint_ttl_from_tinker_path_async(sampler_path, None)
    kept = {c.tinker_path: c for c in (await rest.list_checkpoints_async(model_id)).checkpoints}[sampler_path]
    check(kept.expires_at is None, f"expiry not cleared: {kept}")
    print("TTL set to", expiring.expires_at.isoformat(), "then cleared")

    doomed = await (await training.save_state_async("check-delete"))
    await rest.delete_checkpoint_from_tinker_path_async(doomed.path)
    remaining = [c.tinker_path for c in (await rest.list_checkpoints_async(model_id)).checkpoints]
    check(doomed.path not in remaining, f"deleted checkpoint still listed: {remaining}")
    try:
        await (await training.load_state_async(doomed.path))
        check(False, "a deleted checkpoint loaded")
    except tinker.RequestFailedError as error:
        print("deleted, and its load fails:", error)


if __name__ == "__main__":
    asyncio.run(main())
