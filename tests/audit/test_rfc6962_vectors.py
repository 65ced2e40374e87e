"""The audit tree against outside references: the RFC 6962 test vectors that certificate-transparency's
implementations share (eight leaves, their roots, inclusion and consistency proofs), and a second, naive
implementation written from RFC 6962's definitions (recursion over lists, no frontier) on random sizes."""

from __future__ import annotations

import hashlib
import random

import pytest

from gateway.audit.merkle import (
    EMPTY_ROOT,
    audit_path,
    consistency_proof,
    consistent,
    leaf_hash,
    root_from_path,
    subtree_root,
)

DATA = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    bytes(range(0x50, 0x58)),
    bytes(range(0x60, 0x70)),
]
ROOTS = [  # MTH(D[1]) .. MTH(D[8])
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
LEAVES = [leaf_hash(d) for d in DATA]


def test_the_empty_tree_and_the_roots_of_the_reference_vectors():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert [subtree_root(LEAVES[:n]).hex() for n in range(1, 9)] == ROOTS


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_of_the_reference_vectors(index, size, path):
    assert [h.hex() for h in audit_path(index, LEAVES[:size], size)] == path
    assert root_from_path(index, size, LEAVES[index], [bytes.fromhex(h) for h in path]).hex() == ROOTS[size - 1]


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_of_the_reference_vectors(old, new, proof):
    assert [h.hex() for h in consistency_proof(old, LEAVES[:new])] == proof
    old_root, new_root = bytes.fromhex(ROOTS[old - 1]), bytes.fromhex(ROOTS[new - 1])
    assert consistent(old, new, old_root, new_root, [bytes.fromhex(h) for h in proof])
    if proof:
        forged = [bytes.fromhex(h) for h in proof]
        forged[-1] = bytes(32)
        assert not consistent(old, new, old_root, new_root, forged)


# -- a second implementation, straight from RFC 6962's recursive definitions --------------------------------


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _mth(data: list[bytes]) -> bytes:
    n = len(data)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + data[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return _h(b"\x01" + _mth(data[:k]) + _mth(data[k:]))


def _path(m: int, data: list[bytes]) -> list[bytes]:
    n = len(data)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*_path(m, data[:k]), _mth(data[k:])]
    return [*_path(m - k, data[k:]), _mth(data[:k])]


def _subproof(m: int, data: list[bytes], b: bool) -> list[bytes]:
    n = len(data)
    if m == n:
        return [] if b else [_mth(data)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*_subproof(m, data[:k], b), _mth(data[k:])]
    return [*_subproof(m - k, data[k:], False), _mth(data[:k])]


def test_the_tree_agrees_with_an_independent_implementation_on_random_sizes():
    rng = random.Random(6962)
    data = [rng.randbytes(rng.randrange(0, 40)) for _ in range(70)]
    leaves = [leaf_hash(d) for d in data]
    for n in range(1, len(data) + 1):
        assert subtree_root(leaves[:n]) == _mth(data[:n])
        index = rng.randrange(n)
        assert audit_path(index, leaves[:n], n) == _path(index, data[:n])
        old = rng.randrange(1, n + 1)
        proof = consistency_proof(old, leaves[:n])
        assert proof == (_subproof(old, data[:n], True) if old < n else [])
        assert consistent(old, n, _mth(data[:old]), _mth(data[:n]), proof)
