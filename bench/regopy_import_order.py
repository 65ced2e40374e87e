#!/usr/bin/env python3
"""Reproduction: regopy leaks native memory on every evaluation when another C++ extension was imported
first (greenlet, or frozenlist, which aiohttp imports). Each case runs in a fresh interpreter.

    python bench/regopy_import_order.py [--evaluations 20000]

Measured here (regopy 1.5.2, Debian 12, Python 3.11): `frozenlist` or `greenlet` first: +40 MB over 20,000
evaluations; regopy first: +0.0 MB. The gateway imports regopy first (`gateway/__init__.py`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

CASE = """
import os, sys
first = sys.argv[1]
if first != "regopy":
    __import__(first)
import regopy

def rss_mb():
    with open(f"/proc/{os.getpid()}/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024

rego = 'package gateway\\nimport rego.v1\\ndecision := {"allow": input.x == "a"}\\n'
interpreter = regopy.Interpreter()
interpreter.add_module("p.rego", rego)
bundle = interpreter.build(None, ["gateway/decision"])
def run(n):
    for i in range(n):
        interpreter.set_input(regopy.Input({"x": "a", "n": i}))
        interpreter.query_bundle_entrypoint(bundle, "gateway/decision")
run(2000)
before = rss_mb()
run(int(sys.argv[2]))
print(f"{rss_mb() - before:.1f}")
"""


def grown(first: str, evaluations: int) -> float:
    out = subprocess.run([sys.executable, "-c", CASE, first, str(evaluations)], capture_output=True, text=True)
    return float(out.stdout.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=20_000)
    args = parser.parse_args()
    print(f"imported first   RSS growth over {args.evaluations} evaluations (MB)")
    for first in ("regopy", "frozenlist", "greenlet", "aiohttp"):
        print(f"{first:<16} {grown(first, args.evaluations):>8.1f}")


if __name__ == "__main__":
    main()
