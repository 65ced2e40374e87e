"""Fitting the model: logistic regression by plain SGD, in pure Python so that a re-run gives the same bytes.

    split = load_split(data_dir)
    document = train(split.train_attacks, split.train_benign)   # the JSON object of weights.json

Positives are the prose sentences of each training attack (for code attacks, the sentence that asks for the
code, not the code). Negatives are every sentence and line of the training benign contexts, their code and
error fields, and `HARD_NEGATIVES`: instructions and questions addressed to people, and code that says
"ignore", written for this project (none of them is from the data). Features seen in fewer than
`MIN_COUNT` examples are dropped; weights under `MIN_WEIGHT` in size are not stored.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from .corpus import Attack, Benign, all_segments, prose_segments
from .model import FORMAT, features, logistic

TRAIN_SEED = 27
EPOCHS = 30
LEARNING_RATE = 0.2
L2 = 1e-3
MIN_COUNT = 2
MIN_WEIGHT = 0.02
DIGITS = 3

HARD_NEGATIVES = (
    "Could you send over the signed contract before Thursday?",
    "Please reply to this email to confirm your attendance.",
    "Disregard the earlier draft, the final version is attached.",
    "Forget what I said about the venue, we are staying at the office.",
    "Let me know if you have any questions about your order.",
    "If you have questions, just reply to this message and our team will help.",
    "Please include your order number in your reply so we can find it.",
    "Can you join the planning call on Monday at 10?",
    "Write to us at support@example.com if anything is missing.",
    "Translate the attached brochure into German by next week, please.",
    "Describe the issue in as much detail as you can when you open a ticket.",
    "Make sure to review the changes before merging the pull request.",
    "Add your name to the sign-up sheet in the kitchen.",
    "Explain to the client why the shipment was delayed.",
    "Update your password regularly and never share it with anyone.",
    "Remember to bring your badge to the office tomorrow.",
    "What time works best for you next week?",
    "How do I reset my account password?",
    "Use the following command to install the package:",
    "Try the following code snippet, it should fix the error:",
    "You should add a try/except block around the request in your code.",
    "In your solution the loop never terminates because the counter is not incremented.",
    "Replace the call to values() with the values attribute.",
    "You can ignore this warning, it is harmless.",
    "# ignore the deprecation warning for now",
    "git status --ignored",
    'warnings.filterwarnings("ignore", category=DeprecationWarning)',
    "Set ignore_errors=True if the directory may not exist.",
    "The tests ignore whitespace differences.",
    "Run pip install -r requirements.txt and then start the server.",
    "Include the header file before you call the function.",
    "Your reply was forwarded to the billing team.",
    "Thanks for your answer, it solved my problem.",
    "Remove the spaces from the file name before uploading it.",
    "The system will be down for maintenance on Saturday night.",
    "Our assistant manager will contact you about the refund.",
)


def train(attacks: Iterable[Attack], benign: Iterable[Benign]) -> dict[str, Any]:
    examples = _examples(attacks, benign)
    bias, weights = fit(examples)
    return {
        "format": FORMAT,
        "bias": round(bias, DIGITS),
        "weights": {name: round(value, DIGITS) for name, value in sorted(weights.items())},
        "trained_on": {
            "positives": sum(label for _, label in examples),
            "negatives": sum(1 - label for _, label in examples),
            "seed": TRAIN_SEED,
            "epochs": EPOCHS,
            "l2": L2,
        },
    }


def _examples(attacks: Iterable[Attack], benign: Iterable[Benign]) -> list[tuple[list[str], int]]:
    positives = [text for attack in attacks for text in prose_segments(attack.text)]
    negatives = [text for doc in benign for part in (doc.context, *doc.extras) for text in all_segments(part)]
    negatives += HARD_NEGATIVES
    return [(features(text), 1) for text in positives] + [(features(text), 0) for text in negatives]


def fit(examples: list[tuple[list[str], int]]) -> tuple[float, dict[str, float]]:
    """SGD on the log loss with balanced class weights and L2; fixed seed and order, so deterministic."""
    counts = Counter(name for names, _ in examples for name in names)
    kept = [([name for name in names if counts[name] >= MIN_COUNT], label) for names, label in examples]
    positives = sum(label for _, label in kept)
    class_weight = {1: len(kept) / (2 * positives), 0: len(kept) / (2 * (len(kept) - positives))}
    weights: dict[str, float] = {}
    bias = 0.0
    order = list(range(len(kept)))
    rng = random.Random(TRAIN_SEED)
    for epoch in range(EPOCHS):
        rng.shuffle(order)
        rate = LEARNING_RATE / (1.0 + epoch)
        for index in order:
            names, label = kept[index]
            margin = bias + sum(weights.get(name, 0.0) for name in names)
            gradient = (logistic(margin) - label) * class_weight[label]
            bias -= rate * gradient
            for name in names:
                value = weights.get(name, 0.0)
                weights[name] = value - rate * (gradient + L2 * value)
    return bias, {name: value for name, value in weights.items() if abs(value) >= MIN_WEIGHT}
