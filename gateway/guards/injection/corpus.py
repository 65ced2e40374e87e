"""The BIPIA training data, its deterministic held-out split and how texts become training examples.

Used by `scripts/train-injection` (fit on the training side) and `bench/injection.py` (measure on the
held-out side); the detector itself never reads it.

Data (microsoft/BIPIA, MIT), by default in ../shared/data/injection next to the repository:
- bipia_text_attack_train.json, bipia_code_attack_train.json: {category: [5 attack texts]}
- bipia_email_train.jsonl, bipia_code_train.jsonl: 50 benign contexts each (`context`; code rows also
  have `code` and `error`, which count as benign text too)

Split: per category, `HELD_OUT_ATTACKS` of the 5 variants are held out; per benign file, `HELD_OUT_BENIGN`
of the 50 contexts are held out. Both are drawn by a `random.Random` seeded with a fixed string, so the
split never changes and never depends on what the model scores.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from .segments import segments

ATTACK_FILES = {"text": "bipia_text_attack_train.json", "code": "bipia_code_attack_train.json"}
BENIGN_FILES = {"email": "bipia_email_train.jsonl", "code": "bipia_code_train.jsonl"}
HOST = {"text": "email", "code": "code"}  # which benign contexts each kind of attack is inserted into
SPLIT_SEED = "injection-split-27"
HELD_OUT_ATTACKS = 2
HELD_OUT_BENIGN = 15
POSITIONS = ("start", "middle", "end")


@dataclass(frozen=True, slots=True)
class Attack:
    kind: str  # "text" or "code"
    category: str
    text: str


@dataclass(frozen=True, slots=True)
class Benign:
    source: str  # "email" or "code"
    context: str
    extras: tuple[str, ...]  # other benign text of the same row (a code row's code and error)


@dataclass(frozen=True, slots=True)
class Split:
    train_attacks: tuple[Attack, ...]
    test_attacks: tuple[Attack, ...]
    train_benign: tuple[Benign, ...]
    test_benign: tuple[Benign, ...]


def load_split(data_dir: Path) -> Split:
    """Read the four files and split them; FileNotFoundError names the folder when the data is absent."""
    if not data_dir.is_dir():
        raise FileNotFoundError(f"no injection data at {data_dir} (the BIPIA files; see ../shared/data/README.md)")
    train_attacks: list[Attack] = []
    test_attacks: list[Attack] = []
    for kind, name in ATTACK_FILES.items():
        for category, texts in json.loads((data_dir / name).read_text(encoding="utf-8")).items():
            held = _held_out(len(texts), HELD_OUT_ATTACKS, f"{SPLIT_SEED}:{kind}:{category}")
            for index, text in enumerate(texts):
                (test_attacks if index in held else train_attacks).append(Attack(kind, category, text))
    train_benign: list[Benign] = []
    test_benign: list[Benign] = []
    for source, name in BENIGN_FILES.items():
        rows = [json.loads(line) for line in (data_dir / name).read_text(encoding="utf-8").splitlines() if line]
        held = _held_out(len(rows), HELD_OUT_BENIGN, f"{SPLIT_SEED}:{source}")
        for index, row in enumerate(rows):
            (test_benign if index in held else train_benign).append(_benign(source, row))
    return Split(tuple(train_attacks), tuple(test_attacks), tuple(train_benign), tuple(test_benign))


def _held_out(count: int, size: int, seed: str) -> set[int]:
    return set(random.Random(seed).sample(range(count), size))


def _benign(source: str, row: dict[str, object]) -> Benign:
    extras = tuple(_text(row[key]) for key in ("code", "error") if row.get(key))
    return Benign(source, _text(row["context"]), extras)


def _text(value: object) -> str:
    return "\n".join(str(line) for line in value) if isinstance(value, list) else str(value)


def prose_segments(text: str) -> list[str]:
    """The sentences of a text outside ``` fences: an attack's instruction, not the code it carries."""
    prose: list[str] = []
    fenced = False
    for line in text.split("\n"):
        if line.strip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            prose += [line[start:end] for start, end in segments(line)]
    return prose


def all_segments(text: str) -> list[str]:
    return [text[start:end] for start, end in segments(text)]


def joiner(source: str) -> str:
    return "\n" if source == "code" else " "


def insert(context: str, text: str, position: str, source: str) -> tuple[str, int, int]:
    """`context` with `text` inserted at `position`; returns the sample and the inserted span."""
    glue = joiner(source)
    if position == "start":
        cut = 0
    elif position == "end":
        cut = len(context)
    else:
        cut = middle(context, source)
    head, tail = context[:cut], context[cut:]
    head = head + glue if head else head
    tail = glue + tail if tail else tail
    return head + text + tail, len(head), len(head) + len(text)


def middle(context: str, source: str) -> int:
    """The break nearest the middle: a line break for code, the end of a sentence (else a space) for email."""
    half = len(context) // 2
    marks = ("\n",) if source == "code" else (". ", "? ", "! ", "|", " ")
    for mark in marks:
        before, after = context.rfind(mark, 0, half), context.find(mark, half)
        options = [i + len(mark.rstrip()) for i in (before, after) if i >= 0]
        if options:
            return min(options, key=lambda i: abs(i - half))
    return half
