"""Copied and honest submissions for the class similarity report (tests/test_classmatch.py).

``disguise(source)`` is what a student who copies a classmate's module and
hides it does: every local name (parameters and assigned names of each
function) renamed, comments and formatting gone (``ast.unparse``), and the
top-level functions in reverse order. ``swap_words(text)`` replaces one word
in ten with a synonym-like stand-in. :data:`HONEST` holds two correct designs
of ``count_trainable_parameters``, ``tokenize_example`` and ``pad_batch``,
written independently of each other from the stub's docstrings; put in place
of the reference's, each design earns all 12 points of
``grader/checks/test_lora.py``.
"""

from __future__ import annotations

import ast
import re


class _Renamer(ast.NodeTransformer):
    """Rename the parameters and assigned names of each function, consistently inside it."""

    def visit_FunctionDef(self, node):  # noqa: N802 - ast's visitor naming
        names = {a.arg for a in (*node.args.posonlyargs, *node.args.args,
                                 *node.args.kwonlyargs)} - {"self", "cls"}
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
        mapping = {name: f"x{index}_{name[::-1]}" for index, name in enumerate(sorted(names))}
        for child in ast.walk(node):
            if isinstance(child, ast.Name) and child.id in mapping:
                child.id = mapping[child.id]
            elif isinstance(child, ast.arg) and child.arg in mapping:
                child.arg = mapping[child.arg]
        self.generic_visit(node)
        return node


def disguise(source: str) -> str:
    """Locals renamed, comments dropped, top-level functions reversed."""
    tree = _Renamer().visit(ast.parse(source))
    functions = [node for node in tree.body if isinstance(node, ast.FunctionDef)]
    rest = [node for node in tree.body if not isinstance(node, ast.FunctionDef)]
    main = [node for node in rest if isinstance(node, ast.If)]  # the __main__ block stays last
    head = [node for node in rest if not isinstance(node, ast.If)]
    tree.body = head + functions[::-1] + main
    return ast.unparse(tree) + "\n"


SYNONYMS = {"the": "this", "a": "one", "and": "plus", "of": "from", "to": "towards",
            "is": "was", "in": "within", "that": "which", "it": "this", "for": "per"}


def swap_words(text: str, every: int = 10) -> str:
    """Every ``every``-th word replaced by a stand-in synonym (or the word reversed)."""
    counter = 0

    def swap(match: re.Match) -> str:
        nonlocal counter
        counter += 1
        word = match.group(0)
        if counter % every:
            return word
        return SYNONYMS.get(word.lower(), word[::-1])

    return re.sub(r"[A-Za-z]+", swap, text)


def fill(stub: str, function: str, body: str) -> str:
    """The stub with ``function``'s ``raise NotImplementedError`` replaced by ``body``."""
    tree = ast.parse(stub)
    node = next(n for n in ast.walk(tree)
                if isinstance(n, ast.FunctionDef) and n.name == function)
    last = node.body[-1]
    assert isinstance(last, ast.Raise), function
    lines = stub.splitlines()
    indent = " " * last.col_offset
    block = [indent + line if line else line for line in body.strip("\n").splitlines()]
    lines[last.lineno - 1:last.end_lineno] = block
    return "\n".join(lines) + "\n"


# Two correct designs of three LoRA functions, each written from the stub's docstrings alone.
HONEST = {
    "first": {
        "count_trainable_parameters": """
trainable = 0
total = 0
for parameter in model.parameters():
    total += parameter.numel()
    if parameter.requires_grad:
        trainable += parameter.numel()
return trainable, total
""",
        "tokenize_example": """
if max_length < 2:
    raise ValueError("max_length must be at least 2")
prompt = tokenizer(format_prompt(instruction, input)).input_ids
answer = tokenizer(output, add_special_tokens=False).input_ids
answer.append(tokenizer.eos_token_id)
keep_answer = min(len(answer), max(max_length - len(prompt), (max_length + 1) // 2))
answer = answer[:keep_answer]
keep_prompt = max_length - len(answer)
if len(prompt) > keep_prompt:
    prompt = prompt[len(prompt) - keep_prompt:]
ids = prompt + answer
labels = [-100 for _ in prompt] + list(answer)
return {"input_ids": ids, "attention_mask": [1 for _ in ids], "labels": labels}
""",
        "pad_batch": """
longest = 0
for example in examples:
    longest = max(longest, len(example["input_ids"]))
batch = {"input_ids": [], "attention_mask": [], "labels": []}
for example in examples:
    missing = longest - len(example["input_ids"])
    batch["input_ids"].append(example["input_ids"] + missing * [pad_token_id])
    batch["attention_mask"].append(example["attention_mask"] + missing * [0])
    batch["labels"].append(example["labels"] + missing * [-100])
return {key: torch.tensor(rows) for key, rows in batch.items()}
""",
    },
    "second": {
        "count_trainable_parameters": """
sizes = [(p.numel(), p.requires_grad) for p in model.parameters()]
return sum(n for n, grad in sizes if grad), sum(n for n, _ in sizes)
""",
        "tokenize_example": """
assert max_length >= 2, "the window needs a prompt token and an answer token"
text_ids = tokenizer(format_prompt(instruction, input)).input_ids
reply_ids = [*tokenizer(output, add_special_tokens=False).input_ids, tokenizer.eos_token_id]
room = max_length - len(text_ids)
if room < (max_length + 1) // 2:
    room = (max_length + 1) // 2
reply_ids = reply_ids[:room]
start = max(0, len(text_ids) + len(reply_ids) - max_length)
text_ids = text_ids[start:]
masked = [IGNORE_INDEX] * len(text_ids)
return dict(input_ids=text_ids + reply_ids, attention_mask=[1] * (len(text_ids) + len(reply_ids)),
            labels=masked + reply_ids)
""",
        "pad_batch": """
import torch.nn.functional as F

def to_tensor(name, fill_value):
    rows = [torch.tensor(e[name]) for e in examples]
    width = max(row.shape[0] for row in rows)
    return torch.stack([F.pad(row, (0, width - row.shape[0]), value=fill_value) for row in rows])

return {"input_ids": to_tensor("input_ids", pad_token_id),
        "attention_mask": to_tensor("attention_mask", 0),
        "labels": to_tensor("labels", IGNORE_INDEX)}
""",
    },
}


def honest(stub: str, design: str) -> str:
    """The LoRA stub with one of the two honest designs filled in."""
    for function, body in HONEST[design].items():
        stub = fill(stub, function, body)
    return stub
