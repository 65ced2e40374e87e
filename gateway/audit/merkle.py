"""The audit log's Merkle tree, as RFC 6962 (and RFC 9162) define it.

    leaf hash   SHA-256(0x00 || canonical JSON of the event)
    node hash   SHA-256(0x01 || left || right)
    root        MTH(D[n]): split at the largest power of two below n, recursively

`Frontier` keeps only the roots of the perfect subtrees the first n leaves make (one per set bit of n), so
appending a leaf and computing the root cost O(log n) and the tree never has to be held in memory: the
writer keeps the frontier in the `audit_head` row, a checkpoint stores it (so the log verifies from there
once older events are pruned), and verification streams the rows through one.

    >>> f = Frontier()
    >>> for i in range(3):
    ...     f.append(leaf_hash(b"%d" % i))
    >>> f.root() == node_hash(node_hash(leaf_hash(b"0"), leaf_hash(b"1")), leaf_hash(b"2"))
    True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) of RFC 6962


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Frontier:
    """The right edge of a tree of `size` leaves: its perfect subtrees' roots, largest (leftmost) first."""

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        self.size = size
        self.hashes = list(hashes)
        if len(self.hashes) != bin(size).count("1"):
            raise ValueError(
                f"a tree of {size} leaves has {bin(size).count('1')} frontier hashes, not {len(self.hashes)}"
            )

    def append(self, leaf: bytes) -> None:
        self.hashes.append(leaf)
        self.size += 1
        # each trailing one bit of the new size's predecessor is a pair of equal subtrees to merge
        merges = (self.size & -self.size).bit_length() - 1
        for _ in range(merges):
            right = self.hashes.pop()
            self.hashes[-1] = node_hash(self.hashes[-1], right)

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            acc = node_hash(left, acc)
        return acc

    def copy(self) -> Frontier:
        return Frontier(self.size, self.hashes)

    def hex(self) -> list[str]:
        return [h.hex() for h in self.hashes]

    @classmethod
    def from_hex(cls, size: int, hashes: Iterable[str]) -> Frontier:
        return cls(size, [bytes.fromhex(h) for h in hashes])


def path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose subtree hashes make the audit path of leaf `index` in a tree of `size` leaves,
    in the order the path lists them (nearest the leaf first): RFC 6962 section 2.1.1, PATH(m, D[n])."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = 1 << ((end - start - 1).bit_length() - 1)  # largest power of two below the range's size
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    return list(reversed(ranges))


def audit_path(index: int, leaves: Iterable[bytes], size: int, base: Frontier | None = None) -> list[bytes]:
    """The audit path of leaf `index` from the leaf hashes (see `PathBuilder`)."""
    builder = PathBuilder(index, size, base)
    for leaf in leaves:
        builder.add(leaf)
    return builder.path()


class PathBuilder:
    """Builds the audit path of leaf `index` in a tree of `size` leaves from the leaf hashes, fed once in
    order (bounded memory). They start at leaf 0, or, when older leaves are gone (pruned), at leaf `base.size`,
    with `base` the frontier there (the path of a leaf at or past it needs whole subtrees of it, never parts)."""

    def __init__(self, index: int, size: int, base: Frontier | None = None) -> None:
        base = base or Frontier()
        self.size = size
        self.ranges = path_ranges(index, size)
        self.builders = {r: _prefix(r, base) for r in self.ranges}
        self.by_leaf = sorted(self.ranges)
        self.current = 0
        self.position = base.size

    def add(self, leaf: bytes) -> None:
        position, self.position = self.position, self.position + 1
        if position >= self.size:
            return
        while self.current < len(self.by_leaf) and position >= self.by_leaf[self.current][1]:
            self.current += 1
        if self.current < len(self.by_leaf) and self.by_leaf[self.current][0] <= position:
            self.builders[self.by_leaf[self.current]].append(leaf)

    def path(self) -> list[bytes]:
        return [self.builders[r].root() for r in self.ranges]


def _prefix(leaf_range: tuple[int, int], base: Frontier) -> Frontier:
    """The part of the subtree over `leaf_range` that `base`'s subtrees already hold."""
    start, end = leaf_range
    blocks, position = [], 0
    for bit in reversed(range(base.size.bit_length())):
        if base.size >> bit & 1:
            if start <= position and position + (1 << bit) <= end:
                blocks.append(base.hashes[_count_before(base.size, bit)])
            position += 1 << bit
    covered = max(0, min(end, base.size) - start)
    return Frontier(covered, blocks)


def _count_before(size: int, bit: int) -> int:
    return bin(size >> (bit + 1)).count("1")


def root_from_path(index: int, size: int, leaf: bytes, path: list[bytes]) -> bytes | None:
    """The root an inclusion proof leads to (RFC 9162 section 2.1.3.2), or None if the path cannot fit."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return r if sn == 0 else None


def subtree_root(leaves: list[bytes]) -> bytes:
    """MTH of a list of leaf hashes (RFC 6962 2.1), computed with a frontier."""
    frontier = Frontier()
    for leaf in leaves:
        frontier.append(leaf)
    return frontier.root()


def consistency_proof(old_size: int, leaves: list[bytes]) -> list[bytes]:
    """The proof that the tree of the first `old_size` of `leaves` is a prefix of the tree of all of them
    (RFC 6962 2.1.2: PROOF(m, D[n]) = SUBPROOF(m, D[n], true))."""
    if not 0 <= old_size <= len(leaves):
        raise ValueError(f"no consistency proof from {old_size} leaves to {len(leaves)}")
    if old_size in (0, len(leaves)):
        return []
    return _subproof(old_size, leaves, True)


def _subproof(m: int, leaves: list[bytes], complete: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if complete else [subtree_root(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)  # the largest power of two below n
    if m <= k:
        return [*_subproof(m, leaves[:k], complete), subtree_root(leaves[k:])]
    return [*_subproof(m - k, leaves[k:], False), subtree_root(leaves[:k])]


def consistent(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """Whether `proof` shows the tree (`old_size`, `old_root`) is a prefix of (`new_size`, `new_root`)
    (RFC 9162 2.1.4.2)."""
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if old_size == 0:
        return not proof
    if not proof:
        return False
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0
