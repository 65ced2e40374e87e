#!/usr/bin/env python3
"""False findings on text that holds no personal data by construction, with the default PII settings.

The corpus is read at run time: the Python standard library's own modules and the README and docs of the
packages installed beside the gateway (source code, docstrings, prose about software), plus the coding agents'
recorded requests (`tests/data/agent_requests/`). Every finding in it is a false one. Printed per entity type:
findings and findings per 100,000 characters, with examples; and which of them the default policy would redact
(every type but `data.gateway.unredacted_types`).

    python bench/pii_precision.py [--chars 2000000] [--show 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import sysconfig
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gateway.pii.analyzer import Inspector  # noqa: E402
from gateway.settings import PiiConfig  # noqa: E402

# the standard library's own tests and data files hold made-up addresses and numbers on purpose
SKIPPED_PARTS = {"test", "tests", "idlelib", "lib2to3", "email", "encodings", "pydoc_data"}


def _texts(limit: int) -> list[tuple[str, str]]:
    """(origin, text) until `limit` characters."""
    out, total = [], 0
    recorded = sorted((REPO / "tests/data/agent_requests").glob("*.json"))
    for path in recorded:
        body = json.loads(path.read_text())["body"]
        out.append((path.name, json.dumps(body, ensure_ascii=False)))
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if SKIPPED_PARTS & set(path.relative_to(stdlib).parts) or "site-packages" in path.parts:
            continue
        text = path.read_text(errors="replace")
        out.append((str(path.relative_to(stdlib)), text))
        total += len(text)
        if total >= limit:
            break
    return out


def measure(limit: int, show: int) -> dict[str, Any]:
    inspector = Inspector(PiiConfig(cache_entries=0), b"k" * 32)
    unredacted = set(json.loads((REPO / "policies/gateway/data.json").read_text())["unredacted_types"])
    counts: Counter[str] = Counter()
    examples: dict[str, list[str]] = defaultdict(list)
    chars = 0
    for origin, text in _texts(limit):
        chars += len(text)
        for hit in inspector.analyze(text):
            counts[hit.type] += 1
            if len(examples[hit.type]) < show:
                examples[hit.type].append(f"{origin}: {text[max(0, hit.start - 20) : hit.end + 20]!r}")
    redacted = sum(n for kind, n in counts.items() if kind not in unredacted)
    return {"chars": chars, "counts": counts, "examples": examples, "redacted": redacted, "unredacted": unredacted}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=2_000_000)
    parser.add_argument("--show", type=int, default=2)
    args = parser.parse_args()
    result = measure(args.chars, args.show)
    per = 100_000 / max(result["chars"], 1)
    print(f"{result['chars']:,} characters of text holding no personal data (stdlib, agents' requests)")
    print(f"{'type':<22} {'findings':>9} {'per 100k':>9}  redacted by the default policy")
    for kind, n in result["counts"].most_common():
        print(f"{kind:<22} {n:>9} {n * per:>9.2f}  {'no' if kind in result['unredacted'] else 'yes'}")
    print(f"{'redacted (all types)':<22} {result['redacted']:>9} {result['redacted'] * per:>9.2f}")
    for kind, shown in result["examples"].items():
        for example in shown:
            print(f"  {kind}: {example}")


if __name__ == "__main__":
    main()
