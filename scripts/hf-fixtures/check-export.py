"""Check what `sous export` wrote against transformers and PEFT.

    SOUS_EXPORT_CHECK_DIR=/tmp/export-check npx vitest run test/cli/export.test.ts
    python3 scripts/hf-fixtures/check-export.py /tmp/export-check

The vitest run trains LoRA adapters on copies of the tiny Llama and GPT-2 fixtures and writes,
for each, a directory <check_dir>/<fixture>/ holding the model directory the run started from
(base/), its exports with --format hf (merged/) and --format peft (peft/), and sous-logits.json:
the input ids and the logits sous computes with the adapters. For each, this script loads
merged/ with AutoModelForCausalLM, and base/ with the PEFT adapter over it, computes the logits
of the same ids in float32 and prints, for each, the largest difference relative to the largest
logit of sous's: max_i |sous_i - theirs_i| / max(max_i |sous_i|, 1e-3). It also checks that PEFT
loaded every adapter tensor of the file, none missing or renamed, and that it took the adapter's
fan_in_fan_out as written (PEFT corrects a wrong one with a warning, which would hide a wrong
config). Any failure raises; a difference above 1e-4 too. CI never runs it (it needs torch,
transformers and peft).
"""

import argparse
import json
import os
import warnings

import safetensors.torch
import torch
import transformers
from transformers import AutoModelForCausalLM

import peft
from peft import PeftModel, get_peft_model_state_dict

BAR = 1e-4


def relative_difference(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).abs().max() / max(float(ours.abs().max()), 1e-3))


def logits_of(model, input_ids: torch.Tensor) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(input_ids=input_ids).logits.float()


def check(run_dir: str) -> float:
    """Checks one run's exports, printing their differences; answers the larger."""
    reference = json.load(open(os.path.join(run_dir, "sous-logits.json")))
    input_ids = torch.tensor(reference["input_ids"])
    ours = torch.tensor(reference["logits"], dtype=torch.float32)

    merged = AutoModelForCausalLM.from_pretrained(os.path.join(run_dir, "merged"), dtype=torch.float32)
    merged_diff = relative_difference(ours, logits_of(merged, input_ids))

    adapter_dir = os.path.join(run_dir, "peft")
    base = AutoModelForCausalLM.from_pretrained(os.path.join(run_dir, "base"), dtype=torch.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = PeftModel.from_pretrained(base, adapter_dir)
    corrected = [str(w.message) for w in caught if "fan_in_fan_out" in str(w.message)]
    if corrected:
        raise SystemExit(f"{run_dir}: PEFT corrected the adapter's fan_in_fan_out: {corrected[0]}")
    saved = safetensors.torch.load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    loaded = get_peft_model_state_dict(model)
    if sorted(saved) != sorted(loaded):
        raise SystemExit(f"{run_dir}: PEFT's adapter tensors {sorted(loaded)} are not the file's {sorted(saved)}")
    for name, tensor in saved.items():
        if not torch.equal(tensor, loaded[name].float()):
            raise SystemExit(f"{run_dir}: PEFT loaded {name} with other values than the file holds")
    peft_diff = relative_difference(ours, logits_of(model, input_ids))
    print(f"{os.path.basename(run_dir)}: logits of {list(input_ids.shape)} ids, {ours.numel()} values; relative to sous's own")
    print(f"  merged directory (AutoModelForCausalLM): max relative difference {merged_diff:.3e}")
    print(f"  PEFT adapter over the base ({len(saved)} tensors, all loaded): max relative difference {peft_diff:.3e}")
    return max(merged_diff, peft_diff)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check_dir", help="the directory SOUS_EXPORT_CHECK_DIR named")
    args = parser.parse_args()
    runs = sorted(entry.path for entry in os.scandir(args.check_dir) if entry.is_dir())
    if not runs:
        raise SystemExit(f"{args.check_dir} holds no run's exports")

    print(f"transformers {transformers.__version__}, peft {peft.__version__}, torch {torch.__version__}")
    worst = max([check(run) for run in runs])
    if worst > BAR:
        raise SystemExit(f"a difference is above {BAR}")
    print(f"all within {BAR}")


if __name__ == "__main__":
    main()
