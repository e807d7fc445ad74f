"""Check what `sous export` wrote against transformers and PEFT.

    SOUS_EXPORT_CHECK_DIR=/tmp/export-check npx vitest run test/cli/export.test.ts
    python3 scripts/hf-fixtures/check-export.py /tmp/export-check test/fixtures/hf/llama

The vitest run trains LoRA adapters on a copy of the tiny Llama fixture, exports them with
--format hf (merged/) and --format peft (peft/), and writes sous-logits.json: the input ids and
the logits sous computes with the adapters. This script loads merged/ with
AutoModelForCausalLM, and the base fixture with the PEFT adapter over it, computes the logits
of the same ids in float32 and prints, for each, the largest difference relative to the largest
logit of sous's: max_i |sous_i - theirs_i| / max(max_i |sous_i|, 1e-3). It also checks that PEFT
loaded every adapter tensor of the file, none missing or renamed. Any failure raises; a
difference above 1e-4 too. CI never runs it (it needs torch, transformers and peft).
"""

import argparse
import json
import os

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("check_dir", help="the directory SOUS_EXPORT_CHECK_DIR named")
    parser.add_argument("base", help="the model directory the run started from")
    args = parser.parse_args()

    reference = json.load(open(os.path.join(args.check_dir, "sous-logits.json")))
    input_ids = torch.tensor(reference["input_ids"])
    ours = torch.tensor(reference["logits"], dtype=torch.float32)

    merged = AutoModelForCausalLM.from_pretrained(os.path.join(args.check_dir, "merged"), dtype=torch.float32)
    merged_diff = relative_difference(ours, logits_of(merged, input_ids))

    adapter_dir = os.path.join(args.check_dir, "peft")
    base = AutoModelForCausalLM.from_pretrained(args.base, dtype=torch.float32)
    model = PeftModel.from_pretrained(base, adapter_dir)
    saved = safetensors.torch.load_file(os.path.join(adapter_dir, "adapter_model.safetensors"))
    loaded = get_peft_model_state_dict(model)
    if sorted(saved) != sorted(loaded):
        raise SystemExit(f"PEFT's adapter tensors {sorted(loaded)} are not the file's {sorted(saved)}")
    for name, tensor in saved.items():
        if not torch.equal(tensor, loaded[name].float()):
            raise SystemExit(f"PEFT loaded {name} with other values than the file holds")
    peft_diff = relative_difference(ours, logits_of(model, input_ids))

    print(f"transformers {transformers.__version__}, peft {peft.__version__}, torch {torch.__version__}")
    print(f"logits of {list(input_ids.shape)} ids, {ours.numel()} values; relative to sous's own")
    print(f"merged directory (AutoModelForCausalLM): max relative difference {merged_diff:.3e}")
    print(f"PEFT adapter over the base ({len(saved)} tensors, all loaded): max relative difference {peft_diff:.3e}")
    if max(merged_diff, peft_diff) > BAR:
        raise SystemExit(f"a difference is above {BAR}")
    print(f"both within {BAR}")


if __name__ == "__main__":
    main()
