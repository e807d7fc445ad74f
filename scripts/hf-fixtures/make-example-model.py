"""Write examples/sft-hf/model/: a tiny random-weight chat model in Hugging Face format.

    node examples/sft-hf/make-data.ts                    # the data the tokenizer is trained on
    python3 scripts/hf-fixtures/make-example-model.py    # writes examples/sft-hf/model/
    python3 scripts/hf-fixtures/make-example-model.py --out DIR   # or DIR/, to compare

The directory has what a chat model on the Hub has, shaped like HuggingFaceTB/SmolLM2-135M-Instruct
(LlamaForCausalLM, grouped-query attention, tied embeddings, BF16 weights, a byte-level BPE
tokenizer that splits digits, ChatML turns ending in <|im_end|>) but small enough to commit and
to train on two cores in a minute or two:

- config.json, generation_config.json, model.safetensors: what `save_pretrained` writes, with
  random weights (seeded; transformers' init) rounded to BF16.
- tokenizer.json: a byte-level BPE trained on the roles and contents of the messages of
  examples/sft-hf/data/train.jsonl, with SmolLM2's three special tokens at SmolLM2's ids
  (<|endoftext|> 0, <|im_start|> 1, <|im_end|> 2).
- tokenizer_config.json: the tokens' roles (bos <|im_start|>, eos and pad <|im_end|>, unk
  <|endoftext|>) and a ChatML chat_template, written here rather than by transformers 5, which
  would put the template in chat_template.jinja; Hub models of SmolLM2's age keep it in
  tokenizer_config.json, where sous reads it.

Everything is seeded: a second run writes byte-identical files. The script then loads the
directory back with transformers and checks the tokenizer and the template (see `check`).
"""

import argparse
import json
import os
import shutil

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "sft-hf")
SEED = 0

# SmolLM2's special tokens, at its ids.
ENDOFTEXT, IM_START, IM_END = "<|endoftext|>", "<|im_start|>", "<|im_end|>"
SPECIALS = [ENDOFTEXT, IM_START, IM_END]
# An upper bound: the trainer stops when no pair is left to merge, at 423 tokens on this data
# (the 256 byte symbols, the specials, and merges up to whole words).
VOCAB_SIZE = 512

# ChatML, as SmolLM2-Instruct writes it: each message is `<|im_start|>role\n` + content +
# `<|im_end|>\n`, and a generation prompt opens an assistant turn. Written for this example;
# it adds no default system prompt.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

# SmolLM2-135M: hidden 576, intermediate 1536, 30 layers, 9 heads of 64, 3 KV heads, rope theta
# 100000, RMSNorm eps 1e-5, tied embeddings. Here about the same ratios (intermediate / hidden
# 8/3, three query heads per KV head) at a size two cores train in a minute or two: on this
# task two layers learned faster than four (held-out NLL 0.41 against 0.74 after 300 steps of
# 16 chats at lr 1e-2) and take less time a step.
CONFIG = dict(
    hidden_size=96,
    intermediate_size=256,
    num_hidden_layers=2,
    num_attention_heads=6,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    tie_word_embeddings=True,
    initializer_range=0.02,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)


def chats(path):
    with open(path) as f:
        return [json.loads(line)["messages"] for line in f if line.strip()]


def train_tokenizer(texts):
    tokenizer = Tokenizer(models.BPE())
    # SmolLM2 splits numbers into single digits before the byte-level split, so "347" is three
    # tokens and each digit maps to its own word.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    for index, token in enumerate(SPECIALS):
        assert tokenizer.token_to_id(token) == index, f"{token} is not id {index}"
    return tokenizer


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2, ensure_ascii=False)
        f.write("\n")


def tokenizer_config(tokenizer):
    added = {
        str(tokenizer.token_to_id(token)): {
            "content": token,
            "lstrip": False,
            "normalized": False,
            "rstrip": False,
            "single_word": False,
            "special": True,
        }
        for token in SPECIALS
    }
    return {
        "add_prefix_space": False,
        "added_tokens_decoder": added,
        "bos_token": IM_START,
        "chat_template": CHAT_TEMPLATE,
        "clean_up_tokenization_spaces": False,
        "eos_token": IM_END,
        "model_max_length": CONFIG["max_position_embeddings"],
        "pad_token": IM_END,
        "tokenizer_class": "GPT2Tokenizer",
        "unk_token": ENDOFTEXT,
    }


def write_model(out, vocab_size):
    config = LlamaConfig(vocab_size=vocab_size, **CONFIG)
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config).eval()
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=2, pad_token_id=2)
    # SmolLM2 ships BF16 weights; so does this, which also halves the files.
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)


def check(out, train):
    """Load the directory as a user would and check what the recipe relies on."""
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.config.tie_word_embeddings and "lm_head.weight" not in dict(model.named_parameters())
    assert len(tokenizer) == model.config.vocab_size, f"{len(tokenizer)} tokens, vocab_size {model.config.vocab_size}"
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (1, 2)
    messages = train[0]
    expected = "".join(f"{IM_START}{m['role']}\n{m['content']}{IM_END}\n" for m in messages)
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text == expected, f"template wrote {text!r}"
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    assert prompt == expected[: expected.rindex(IM_START)] + f"{IM_START}assistant\n", f"generation prompt {prompt!r}"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert ids.count(1) == len(messages) and ids.count(2) == len(messages), "specials not encoded as single ids"
    assert tokenizer.decode(ids) == text, "decode(encode(text)) != text"
    digits = tokenizer("347", add_special_tokens=False)["input_ids"]
    assert [tokenizer.decode([i]) for i in digits] == ["3", "4", "7"], f"digits not split: {digits}"
    with torch.no_grad():
        loss = float(model(torch.tensor([ids]), labels=torch.tensor([ids])).loss)
    # Random weights with a small init: every token about equally likely, so the loss is near
    # log(vocab), the starting point the example's numbers report.
    assert abs(loss - torch.log(torch.tensor(float(len(tokenizer))))) < 0.1, f"loss {loss}"
    return len(ids), loss


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(EXAMPLE, "model"))
    args = parser.parse_args()
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    train = chats(os.path.join(EXAMPLE, "data", "train.jsonl"))
    shutil.rmtree(args.out, ignore_errors=True)
    os.makedirs(args.out)
    # The role names are trained too: the template writes them into every turn.
    tokenizer = train_tokenizer(text for messages in train for m in messages for text in (m["role"], m["content"]))
    tokenizer.save(os.path.join(args.out, "tokenizer.json"))
    write_json(os.path.join(args.out, "tokenizer_config.json"), tokenizer_config(tokenizer))
    write_model(args.out, tokenizer.get_vocab_size())
    tokens, loss = check(args.out, train)
    sizes = {name: os.path.getsize(os.path.join(args.out, name)) for name in sorted(os.listdir(args.out))}
    print(f"{args.out}: {sizes}")
    print(f"vocab {tokenizer.get_vocab_size()}, first chat {tokens} tokens, loss {loss:.4f}")


if __name__ == "__main__":
    main()
