"""Technical checks for approach 3, HuggingFace LoRA (12 points).

Everything runs on the CPU with the tiny Llama-style model in
``fixtures/tiny-llama`` (140k random weights, loaded with ``from_pretrained``
like any hub model). Every expected figure is computed here from the model's
configuration, never taken from the reference. Each check builds the LoRA
model it needs itself (except the two that grade ``prepare_model_and_tokenizer``),
so one mistake costs the points of the function that has it, not of every
check downstream.

PyTorch, transformers and peft are imported inside the checks that use them,
not when this file is collected: ``pytest -k split`` or collecting the checks
for a batch then costs no model library.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.seam import REPO_ROOT

if TYPE_CHECKING:
    import torch

TINY = REPO_ROOT / "fixtures" / "tiny-llama"
MODULE = "huggingface_lora"
GUIDE = "https://huggingface.co/docs/peft/conceptual_guides/lora"
PEFT_QUICKTOUR = "https://huggingface.co/docs/peft/quicktour"
EXPECTED = {"r": 8, "lora_alpha": 32, "target_modules": {"q_proj", "v_proj"},
            "lora_dropout": 0.05, "bias": "none", "task_type": "CAUSAL_LM"}
# Short fixed records: a few seeded steps visibly lower their loss.
RECORDS = [
    {"instruction": "What do plants need for photosynthesis?",
     "output": "Light, water and carbon dioxide."},
    {"instruction": "Name the closest star to Earth.", "output": "The Sun."},
    {"instruction": "What is 7 times 8?", "output": "56."},
    {"instruction": "What gas do we breathe out?", "output": "Carbon dioxide."},
    {"instruction": "Why does ice float?", "output": "Ice is less dense than water."},
    {"instruction": "What is the boiling point of water at sea level?", "output": "100 degrees C."},
    {"instruction": "Who wrote Romeo and Juliet?", "output": "William Shakespeare."},
    {"instruction": "What is a noun?", "output": "A word that names a thing."},
]


# ---------------------------------------------------------------- helpers
def no_grad(function):
    """``torch.no_grad()`` around a helper, with torch imported when the helper first runs."""
    @functools.wraps(function)
    def without_gradients(*args, **kwargs):
        import torch

        with torch.no_grad():
            return function(*args, **kwargs)
    return without_gradients


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(TINY)
    tok.pad_token = tok.eos_token
    return tok


def lora_model(randomize: bool = False, seed: int = 0, dropout: float = 0.05):
    """The tiny base model with the assignment's LoRA adapters, built by the check itself.

    LoRA starts with B = 0, so a fresh adapter changes nothing; ``randomize``
    gives B random values so that saving, reloading and merging are visible.
    A large ``dropout`` makes a model left in training mode visibly noisy.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(
        r=8, lora_alpha=32, target_modules=["q_proj", "v_proj"], lora_dropout=dropout,
        bias="none", task_type="CAUSAL_LM"))
    if randomize:
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for name, param in model.named_parameters():
                if "lora_B" in name:
                    param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    return model.eval()


def expected_trainable() -> int:
    """LoRA parameters of the tiny model: layers x sum over targets of r x (in + out)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(TINY)
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    shapes = {  # (in, out) of each target projection
        "q_proj": (config.hidden_size, config.num_attention_heads * head_dim),
        "v_proj": (config.hidden_size, config.num_key_value_heads * head_dim),
    }
    per_layer = sum(EXPECTED["r"] * (n_in + n_out) for n_in, n_out in shapes.values())
    return config.num_hidden_layers * per_layer


def sample_ids(tokenizer) -> torch.Tensor:
    return tokenizer(["### Instruction:\nWhy is the sky blue?\n\n### Response:\nLight scatters.",
                      "What is a fraction?"], return_tensors="pt", padding=True)["input_ids"]


@no_grad
def logits_of(model, ids: torch.Tensor) -> torch.Tensor:
    model.eval()
    return model(input_ids=ids).logits.float()


@no_grad
def answer_loss(model, tokenizer, format_prompt) -> float:
    """Cross-entropy per answer token over RECORDS, computed here (prompt tokens excluded)."""
    import torch

    model.eval()
    total, count = 0.0, 0
    for record in RECORDS:
        prompt = tokenizer(format_prompt(record["instruction"])).input_ids
        answer = tokenizer(record["output"], add_special_tokens=False).input_ids
        ids = torch.tensor([prompt + answer + [tokenizer.eos_token_id]])
        logits = model(input_ids=ids).logits[0, len(prompt) - 1:-1]
        targets = ids[0, len(prompt):]
        total += torch.nn.functional.cross_entropy(logits, targets, reduction="sum").item()
        count += len(targets)
    return total / count


def base_weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" not in n}


# ---------------------------------------------------------------- the configuration
@pytest.mark.rubric("technical", "lora", points=1)
def test_lora_config(impl):
    """make_lora_config() must return LoraConfig(r=8, lora_alpha=32, target_modules=["q_proj",
    "v_proj"], lora_dropout=0.05, bias="none", task_type="CAUSAL_LM"). Read:
    https://huggingface.co/docs/peft/package_reference/lora"""
    from peft import LoraConfig

    config = impl.module(MODULE).make_lora_config()
    assert isinstance(config, LoraConfig), (
        f"expected a peft.LoraConfig, got {type(config).__name__}")
    found = {"r": config.r, "lora_alpha": config.lora_alpha,
             "target_modules": set(config.target_modules or ()),
             "lora_dropout": config.lora_dropout, "bias": config.bias,
             "task_type": str(getattr(config.task_type, "value", config.task_type))}
    wrong = [f"{key}={found[key]!r} (expected {want!r})" for key, want in EXPECTED.items()
             if found[key] != want]
    assert not wrong, "wrong LoRA settings: " + ", ".join(wrong)


@pytest.mark.rubric("technical", "lora", points=1)
def test_prepare_model_freezes_base(impl):
    """prepare_model_and_tokenizer(path, use_8bit=False) must load the model and tokenizer with
    from_pretrained, give the tokenizer a padding token, and wrap the model with get_peft_model so
    that only the lora_A/lora_B matrices of q_proj and v_proj in every layer require gradients.
    Read: https://huggingface.co/docs/peft/quicktour"""
    from peft import PeftModel
    from transformers import AutoConfig

    model, tokenizer = impl.module(MODULE).prepare_model_and_tokenizer(TINY, use_8bit=False)
    assert isinstance(model, PeftModel), (
        f"expected the model wrapped by peft.get_peft_model, got {type(model).__name__}")
    assert tokenizer.pad_token is not None, (
        "the tokenizer has no padding token: set tokenizer.pad_token (e.g. to the eos token)")
    layers = AutoConfig.from_pretrained(TINY).num_hidden_layers
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    not_lora = [n for n in trainable if "lora_A" not in n and "lora_B" not in n]
    assert not not_lora, (f"{len(not_lora)} base weights still require gradients, "
                          f"e.g. {not_lora[0]}: only the LoRA matrices may train")
    adapted = {(n.split(".layers.")[1].split(".")[0], module)
               for n in trainable for module in ("q_proj", "v_proj") if f".{module}." in n}
    wanted = {(str(i), module) for i in range(layers) for module in ("q_proj", "v_proj")}
    others = [n for n in trainable if ".q_proj." not in n and ".v_proj." not in n]
    assert not others, f"LoRA adapters on modules other than q_proj/v_proj: {others[0]}"
    assert adapted == wanted, f"layers/modules without LoRA adapters: {sorted(wanted - adapted)}"


@pytest.mark.rubric("technical", "lora", points=1)
def test_trainable_parameter_count(impl, credit):
    """count_trainable_parameters(model) must return (trainable, total), and the model from
    prepare_model_and_tokenizer must have exactly layers x sum of r x (in + out) over q_proj and
    v_proj trainable parameters. Read: https://huggingface.co/docs/peft/conceptual_guides/lora"""
    module = impl.module(MODULE)
    reference_model = lora_model()
    want = (expected_trainable(), sum(p.numel() for p in reference_model.parameters()))
    got = tuple(module.count_trainable_parameters(reference_model))
    counted = got == want
    model, _ = module.prepare_model_and_tokenizer(TINY, use_8bit=False)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    prepared = trainable == want[0]
    credit((counted + prepared) / 2, f"count {'right' if counted else 'wrong'}, "
                                     f"prepared model {'right' if prepared else 'wrong'}")
    assert counted, (f"count_trainable_parameters on a LoRA model returned {got}, "
                     f"expected (trainable, total) = {want}")
    assert prepared, (f"the prepared model has {trainable} trainable parameters, expected "
                      f"{want[0]} = layers x sum of r x (in + out) over q_proj and v_proj")


# ---------------------------------------------------------------- the data
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
               | st.sampled_from([" ", "\n", "\t"]), min_size=1, max_size=60)


@pytest.mark.rubric("technical", "lora", points=1.5)
@settings(max_examples=80)
@given(instruction=TEXT, answer=TEXT, extra=st.one_of(st.just(""), TEXT),
       max_length=st.integers(min_value=8, max_value=160))
def test_label_masking(impl, tokenizer, instruction, answer, extra, max_length):
    """tokenize_example must mask every prompt token with -100 in labels and learn every answer
    token that fits (answer = tokenizer(output, add_special_tokens=False) + eos). When the text is
    too long it may cut the prompt's start or the answer's end, but never the whole answer.
    Read: https://huggingface.co/docs/transformers/tasks/language_modeling"""
    module = impl.module(MODULE)
    prompt = tokenizer(module.format_prompt(instruction, extra)).input_ids
    full_answer = tokenizer(answer, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
    fits = len(prompt) + len(full_answer) <= max_length
    try:
        example = module.tokenize_example(tokenizer, instruction, answer, input=extra,
                                          max_length=max_length)
    except ValueError:
        if fits:
            raise
        return  # refusing a too-long example with a clear error is allowed
    ids, labels = list(example["input_ids"]), list(example["labels"])
    assert len(ids) == len(labels) == len(example["attention_mask"]), "lengths differ"
    assert len(ids) <= max_length, f"{len(ids)} tokens exceed max_length={max_length}"
    assert all(int(m) == 1 for m in example["attention_mask"]), "a single example has no padding"
    masked = next((i for i, label in enumerate(labels) if label != -100), len(labels))
    assert masked < len(labels), (
        f"no answer token is learned (all labels are -100) for {answer!r}: never drop the answer")
    assert labels[masked:] == ids[masked:], (
        "after the prompt, labels must equal input_ids (every answer token learned)")
    start = [tokenizer.bos_token_id] if prompt[:1] == [tokenizer.bos_token_id] else []
    kept_end = ids[:masked] == prompt[len(prompt) - masked:]
    kept_start_and_end = (bool(start) and 0 < masked < len(prompt)
                          and ids[:masked] == start + prompt[len(prompt) - masked + 1:])
    assert masked <= len(prompt) and (kept_end or kept_start_and_end), (
        "the masked (-100) tokens must be the prompt's last tokens: a prompt that does not fit "
        "is cut from the left, keeping its end '### Response:' (keeping the start token <s> in "
        "front is fine too), and nothing else may be masked")
    assert ids[masked:] == full_answer[:len(ids) - masked], (
        "the learned tokens are not the answer's tokens followed by eos")
    if fits:
        assert masked == len(prompt), (
            f"{len(prompt) - masked} prompt tokens are learned instead of masked with -100")
        assert len(ids) - masked == len(full_answer), "answer tokens were dropped although they fit"
    else:
        room = min(len(full_answer), max(max_length - len(prompt), max_length // 2))
        assert len(ids) - masked >= room, (
            f"{len(ids) - masked} answer tokens kept with max_length={max_length} and a "
            f"{len(prompt)}-token prompt: the answer may use all the room the prompt leaves and "
            f"at least half the window ({room} of its {len(full_answer)} tokens here)")
        assert len(ids) == max_length, (
            f"{len(ids)} tokens for a text longer than max_length={max_length}: the prompt gets "
            "the room the answer leaves")


def qa_record(number: int) -> dict:
    return {"instruction": f"Question {number}: what is {number} plus {number}?", "input": "",
            "output": f"{2 * number}."}


@pytest.mark.rubric("technical", "lora", points=0.5)
def test_split_records_seeded(impl):
    """split_records(records, eval_fraction, seed) must shuffle with its own seeded generator and
    split into (train, eval): every record exactly once, about eval_fraction of them in eval, the
    same split for the same seed whatever the global random state (random, numpy, torch), and
    another split for another seed. Read: https://docs.python.org/3/library/random.html"""
    import numpy
    import torch

    module = impl.module(MODULE)
    records = [qa_record(i) for i in range(40)]

    def split(seed: int, noise: int) -> tuple[list[str], list[str]]:
        random.seed(noise)
        numpy.random.seed(noise)
        torch.manual_seed(noise)
        train, held = module.split_records([dict(r) for r in records], eval_fraction=0.25,
                                           seed=seed)
        return [r["instruction"] for r in train], [r["instruction"] for r in held]

    train, held = split(3, noise=1)
    every = sorted(r["instruction"] for r in records)
    assert sorted(train + held) == every, (
        f"split_records gave {len(train)} train and {len(held)} eval records for 40 distinct "
        "ones: every record must land on exactly one side")
    assert 5 <= len(held) <= 15, (
        f"split_records(<40 records>, eval_fraction=0.25) put {len(held)} in eval; expected "
        "about 10 (the eval side is the second of the pair)")
    assert split(3, noise=2) == (train, held), (
        "split_records(seed=3) gave another split once the global random state changed: "
        "shuffle with a generator of your own, random.Random(seed), not the global one")
    assert split(4, noise=1) != (train, held), (
        "split_records gave the same split for seed=3 and seed=4: shuffle with the seed")


@pytest.mark.rubric("technical", "lora", points=0.5)
def test_load_qa_records_validates(impl, tmp_path):
    """load_qa_records(qa_path, chat_path) must validate both files against their schemas before
    use (a bad record raises DataError, a ValueError naming the file and line) and return one
    {"instruction", "input", "output"} record per QA line and per user -> assistant turn of the
    chat file (the system message dropped). Read: https://json-schema.org/understanding-json-schema"""
    module = impl.module(MODULE)
    qa = [{"instruction": "What is 2 + 2?", "output": "4."},
          {"instruction": "Name a mammal that lives in the sea.", "input": "",
           "output": "A whale."}]
    chat = [{"messages": [{"role": "system", "content": "Be kind."},
                          {"role": "user", "content": "Why is the sky blue?"},
                          {"role": "assistant", "content": "Blue light scatters most."},
                          {"role": "user", "content": "And why are sunsets red?"},
                          {"role": "assistant", "content": "The light crosses more air."}]}]

    def write(name: str, rows: list[dict]) -> Path:
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    good_qa, good_chat = write("qa.jsonl", qa), write("chat.jsonl", chat)
    found = module.load_qa_records(good_qa, good_chat)
    got = sorted((r["instruction"], r.get("input", ""), r["output"]) for r in found)
    want = sorted([("What is 2 + 2?", "", "4."),
                   ("Name a mammal that lives in the sea.", "", "A whale."),
                   ("Why is the sky blue?", "", "Blue light scatters most."),
                   ("And why are sunsets red?", "", "The light crosses more air.")])
    assert got == want, (f"load_qa_records gave {got}; expected one record per QA line and per "
                         f"user -> assistant turn of the chat file: {want}")
    bad = {"a QA record whose instruction is only spaces":
           (write("bad_qa.jsonl", [*qa, {"instruction": "   ", "output": "Yes."}]), good_chat),
           "a chat message with the role 'teacher'":
           (good_qa, write("bad_chat.jsonl", [{"messages": [
               {"role": "user", "content": "Hi"}, {"role": "teacher", "content": "Hello"}]}]))}
    for what, paths in bad.items():
        try:
            module.load_qa_records(*paths)
        except ValueError:
            continue
        raise AssertionError(f"load_qa_records accepted {what}: validate both files with "
                             "read_jsonl(path, schema='qa' / 'chat') before using them")


ROWS = st.lists(st.lists(st.integers(min_value=0, max_value=500), min_size=1, max_size=12),
                min_size=1, max_size=5)


@pytest.mark.rubric("technical", "lora", points=1)
@settings(max_examples=60)
@given(rows=ROWS, pad=st.integers(min_value=0, max_value=500))
def test_pad_batch(impl, rows, pad):
    """pad_batch(examples, pad_token_id) must pad every example on the right to the longest one and
    return tensors input_ids / attention_mask / labels of shape (examples, longest), padding with
    pad_token_id, 0 and -100. Read: https://huggingface.co/docs/transformers/pad_truncation"""
    import torch

    examples = [{"input_ids": list(r), "attention_mask": [1] * len(r),
                 "labels": [-100] + list(r[1:])} for r in rows]
    batch = impl.module(MODULE).pad_batch(examples, pad)
    width = max(len(r) for r in rows)
    fill = {"input_ids": pad, "attention_mask": 0, "labels": -100}
    for key, value in fill.items():
        assert key in batch, f"pad_batch returned no {key!r}"
        tensor = batch[key]
        assert isinstance(tensor, torch.Tensor), f"{key} is a {type(tensor).__name__}, not a tensor"
        assert tuple(tensor.shape) == (len(rows), width), (
            f"{key} has shape {tuple(tensor.shape)}; expected (examples, longest) = "
            f"{(len(rows), width)}")
        for i, example in enumerate(examples):
            row = tensor[i].tolist()
            n = len(example[key])
            assert row[:n] == example[key], (
                f"{key} row {i} does not start with the example's values: pad on the right")
            assert row[n:] == [value] * (width - n), (
                f"{key} row {i} is padded with {row[n:]}; expected {value} after the example "
                "(on the right)")


# ---------------------------------------------------------------- training
@no_grad
def tokenized_loss(model, examples) -> float | None:
    """Cross-entropy per learned token of already tokenized examples (labels != -100)."""
    import torch

    total, count = 0.0, 0
    for example in examples:
        ids = torch.tensor([list(example["input_ids"])])
        labels = torch.tensor(list(example["labels"])[1:])
        logits = model(input_ids=ids).logits[0, :-1]
        total += torch.nn.functional.cross_entropy(logits, labels, ignore_index=-100,
                                                   reduction="sum").item()
        count += int((labels != -100).sum())
    return total / count if count else None


def adapter_values(model) -> list[torch.Tensor]:
    return [p.detach().clone() for n, p in model.named_parameters() if "lora_" in n]


@pytest.mark.rubric("technical", "lora", points=1.5)
def test_loss_falls(impl, tokenizer, credit):
    """train(model, tokenizer, records, steps=..., learning_rate=..., batch_size=..., seed=...)
    must lower the loss on the training records without touching the frozen base weights, return
    one loss per step, and be seeded (same seed, same result; another seed, another result);
    evaluate_loss must return the mean loss per answer token, whatever the batch size. Read:
    https://huggingface.co/docs/transformers/main_classes/trainer"""
    module = impl.module(MODULE)
    model = lora_model()
    frozen = base_weights(model)
    before = answer_loss(model, tokenizer, module.format_prompt)
    # evaluate_loss is judged on the student's own tokenization too, so a tokenize_example
    # mistake costs test_label_masking, not this check.
    try:
        own = tokenized_loss(model, module.tokenize_records(tokenizer, RECORDS))
    except Exception:  # noqa: BLE001 - a broken tokenize_records is graded elsewhere
        own = None
    reported = module.evaluate_loss(model, tokenizer, RECORDS, batch_size=3)
    wants = [w for w in (before, own) if w is not None]
    evaluated = any(abs(reported - w) <= 1e-3 * w for w in wants)
    result = module.train(model, tokenizer, RECORDS, steps=12, learning_rate=1e-2, batch_size=4,
                          seed=0)
    after = answer_loss(model, tokenizer, module.format_prompt)
    changed = [n for n, p in model.named_parameters() if n in frozen and not p.equal(frozen[n])]
    fell = after < before - 0.05 and not changed
    seeded, seed_problem = seeded_training(module, tokenizer, result)
    credit((evaluated + fell + seeded) / 3,
           f"loss {before:.3f} -> {after:.3f}; evaluate_loss {'right' if evaluated else 'wrong'}; "
           f"training {'seeded' if seeded else 'not seeded: ' + seed_problem}")
    assert not changed, f"training changed frozen base weights, e.g. {changed[0]}"
    assert fell, (f"the answer loss went from {before:.4f} to {after:.4f} in 12 steps at "
                  f"learning rate 1e-2: it should fall by more than 0.05")
    own_text = "" if own is None or abs(own - before) <= 1e-3 * before else (
        f" ({own:.4f} over the tokens your tokenize_example learns)")
    assert evaluated, (f"evaluate_loss(records, batch_size=3) returned {reported:.4f}; the mean "
                       f"cross-entropy per answer token is {before:.4f}{own_text}: sum over "
                       f"answer tokens and divide by their number, not a mean of batch means")
    assert seeded, seed_problem


def seeded_training(module, tokenizer, result) -> tuple[bool, str]:
    """Whether train() reports one loss per step and follows its seed; (ok, what is wrong)."""
    losses = result.get("losses") if isinstance(result, dict) else None
    if not isinstance(losses, list) or len(losses) != 12:
        return False, (f"train(steps=12) must return a dict whose 'losses' has one loss per "
                       f"step; got {str(losses)[:80]}")
    import torch

    def run(seed: int, noise: int) -> list[torch.Tensor]:
        model = lora_model()
        torch.manual_seed(noise)  # the global generator must not decide the result
        module.train(model, tokenizer, RECORDS, steps=3, learning_rate=1e-2, batch_size=2,
                     seed=seed)
        return adapter_values(model)

    first, again, other = run(1, 11), run(1, 22), run(2, 11)
    if not all(a.equal(b) for a, b in zip(first, again, strict=True)):
        return False, "two trainings with the same seed gave different adapters: seed everything"
    if all(a.equal(b) for a, b in zip(first, other, strict=True)):
        return False, ("seed=1 and seed=2 gave identical adapters: the seed must decide the "
                       "data order and dropout (pass it to the Trainer / set_seed)")
    return True, ""


@pytest.mark.rubric("technical", "lora", points=0.5)
def test_evaluation_ignores_training_mode(impl, tokenizer):
    """evaluate_loss and generate must put the model in evaluation mode (model.eval(), which
    turns the adapters' dropout off) whatever state training left it in: on a model left in
    training mode they give what they give on the same model in evaluation mode. Read:
    https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval"""
    import torch

    module = impl.module(MODULE)
    model = lora_model(randomize=True, dropout=0.5)
    instruction = "Explain why the sky looks blue during the day."

    def both(mode: str):
        """The loss and the answer, each from the same random state, in the given mode."""
        getattr(model, mode)()
        torch.manual_seed(0)
        loss = module.evaluate_loss(model, tokenizer, RECORDS, batch_size=4)
        getattr(model, mode)()
        torch.manual_seed(0)
        return loss, module.generate(model, tokenizer, instruction, max_new_tokens=12)

    (loss, text), (settled_loss, settled_text) = both("train"), both("eval")
    assert abs(loss - settled_loss) <= 1e-6 * abs(settled_loss), (
        f"evaluate_loss on a model left in training mode (as the Trainer leaves it) returned "
        f"{loss:.4f}, on the same model in evaluation mode {settled_loss:.4f}: call model.eval() "
        "first, so the adapters' dropout is off while scoring")
    assert text == settled_text, (
        f"generate on a model left in training mode answered {text!r:.60}, in evaluation mode "
        f"{settled_text!r:.60}: call model.eval() first, so greedy decoding repeats")


# ---------------------------------------------------------------- after training
@pytest.mark.rubric("technical", "lora", points=1.5)
def test_adapter_save_reload(impl, tokenizer, tmp_path, credit):
    """save_adapter(model, path) must save only the adapter (LoRA weights and adapter_config.json,
    not the base model), and load_adapter(base_path, path) must put it back on a fresh base model
    that gives identical logits. Read:
    https://huggingface.co/docs/peft/tutorial/peft_model_config"""
    import torch
    from safetensors.torch import load_file

    module = impl.module(MODULE)
    model = lora_model(randomize=True)
    ids = sample_ids(tokenizer)
    want = logits_of(model, ids)
    folder = tmp_path / "adapter"
    module.save_adapter(model, str(folder))
    weights_file = folder / "adapter_model.safetensors"
    assert weights_file.exists(), f"no adapter_model.safetensors in the saved folder: " \
                                  f"{sorted(p.name for p in folder.iterdir())}"
    tensors = load_file(weights_file)
    not_lora = [k for k in tensors if "lora_" not in k]
    config = json.loads((folder / "adapter_config.json").read_text())
    saved_only_adapter = (not not_lora and sum(t.numel() for t in tensors.values())
                          == expected_trainable()
                          and set(config.get("target_modules") or ()) == EXPECTED["target_modules"])
    loaded = module.load_adapter(TINY, str(folder))
    if isinstance(loaded, tuple):  # (model, tokenizer) is fine too
        loaded = loaded[0]
    got = logits_of(loaded, ids)
    identical = got.shape == want.shape and torch.allclose(got, want, atol=1e-5, rtol=0)
    credit((saved_only_adapter + identical) / 2,
           f"adapter-only save {'right' if saved_only_adapter else 'wrong'}, "
           f"reload {'identical' if identical else 'different'}")
    assert not not_lora, (f"the adapter file holds {len(not_lora)} non-LoRA tensors "
                          f"(e.g. {not_lora[0]}): save only the adapter")
    assert saved_only_adapter, "the saved adapter does not hold exactly the q_proj/v_proj LoRA " \
                               "weights of the model"
    diff = (got - want).abs().max().item() if got.shape == want.shape else float("nan")
    assert identical, (f"the reloaded model's logits differ from the saved model's "
                       f"(largest difference {diff:.2e})")


@pytest.mark.rubric("technical", "lora", points=1)
def test_merge_matches(impl, tokenizer):
    """merge_adapter(model) must fold the LoRA update into the base weights (merge_and_unload) and
    return a plain model whose logits match the adapted model's. Read:
    https://huggingface.co/docs/peft/developer_guides/lora#merge-lora-weights-into-the-base-model"""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = lora_model(randomize=True)
    ids = sample_ids(tokenizer)
    base = AutoModelForCausalLM.from_pretrained(TINY, dtype=torch.float32)
    base_logits = logits_of(base, ids)
    want = logits_of(model, ids)
    merged = impl.module(MODULE).merge_adapter(model)
    assert not isinstance(merged, PeftModel), "merge_adapter must return the plain merged model"
    leftover = [n for n, _ in merged.named_modules() if "lora_" in n]
    assert not leftover, f"the merged model still has LoRA modules, e.g. {leftover[0]}"
    got = logits_of(merged, ids)
    assert not torch.allclose(got, base_logits, atol=1e-4), (
        "the merged model computes what the base model does: the adapter was dropped, not merged")
    diff = (got - want).abs().max().item()
    assert diff < 1e-4, f"merged logits differ from the adapted model's by up to {diff:.2e}"


@pytest.mark.rubric("technical", "lora", points=1)
def test_generate_new_text(impl, tokenizer):
    """generate(model, tokenizer, instruction, max_new_tokens=...) must format the prompt, decode
    greedily, and return only the newly generated text, not the prompt echoed back. Read:
    https://huggingface.co/docs/transformers/llm_tutorial"""
    module = impl.module(MODULE)
    model = lora_model(randomize=True)
    instruction = "Explain why the sky looks blue during the day."
    text = module.generate(model, tokenizer, instruction, max_new_tokens=12)
    assert isinstance(text, str), f"generate must return a string, got {type(text).__name__}"
    assert instruction not in text and "### Instruction" not in text, (
        f"the answer echoes the prompt: {text[:80]!r}... return only the new tokens")
    assert text.strip(), "generate returned no text"
    again = module.generate(model, tokenizer, instruction, max_new_tokens=12)
    assert again == text, "two calls gave different answers: decode greedily (do_sample=False)"
    produced = len(tokenizer(text, add_special_tokens=False).input_ids)
    assert produced <= 2 * 12 + 4, f"{produced} tokens returned for max_new_tokens=12"

