"""Agent Governance Gateway."""

# regopy (rego-cpp) must be loaded before any other C++ extension: when greenlet or frozenlist (imported by
# aiohttp) comes first, every policy evaluation leaks ~2 KB of native memory (40 MB per 20,000 decisions).
# `bench/regopy_import_order.py` reproduces it; tests/fault/test_memory.py keeps it fixed.
import regopy  # noqa: F401

__version__ = "0.1.0"
