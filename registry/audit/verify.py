"""Verification of inclusion and consistency proofs, RFC 9162 §2.1.3.2 and §2.1.4.2.

Pure and stdlib-only: an auditor can copy this file (and nothing else) next to exported tree heads
and proofs. Every function answers True or False and never raises for a wrong or malformed proof,
so a hostile server cannot crash a verifier into skipping a check.

A proof ties a leaf or an old root to a root *and a size*; both must come from the same signed tree
head. The size is not otherwise bound: e.g. the audit path of leaf 0 in a tree of 3 leaves also
"verifies" leaf 0 at size 4 against the size-3 root, because the left/right pattern is the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = ["root_from_inclusion", "verify_consistency", "verify_inclusion"]

_HASH_SIZE = 32
_NODE_PREFIX = b"\x01"
_EMPTY_ROOT = hashlib.sha256(b"").digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == _HASH_SIZE


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_path(proof: object, size: int) -> bool:
    # A str or bytes is a Sequence too; reject it rather than iterate its characters. No proof for
    # a tree of `size` leaves has more than about log2(size) hashes, so a huge list is turned away
    # before any of it is read.
    return (
        isinstance(proof, Sequence)
        and not isinstance(proof, str | bytes | bytearray)
        and len(proof) <= size.bit_length() + 1
        and all(_is_hash(p) for p in proof)
    )


def root_from_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes | None:
    """The root that `proof` yields for `leaf_hash` at `index` in a tree of `size` leaves.

    None when the proof cannot be an audit path for that position (wrong length, bad sizes or
    hash lengths). Follows RFC 9162 §2.1.3.2 steps 1-5, minus the final comparison.
    """
    if not (_is_hash(leaf_hash) and _is_size(index) and _is_size(size) and _is_path(proof, size)):
        return None
    if index >= size:
        return None
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            return None  # more proof than levels
        if fn & 1 or fn == sn:
            r = _node(p, r)
            # On the right edge of an unbalanced tree, skip the levels where this node has no sibling.
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        return None  # fewer proof hashes than levels
    return r


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True iff `proof` shows the leaf with `leaf_hash` sits at `index` in the tree (`size`, `root`)."""
    if not _is_hash(root):
        return False
    computed = root_from_inclusion(leaf_hash, index, size, proof)
    return computed is not None and computed == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """True iff `proof` shows the tree (`old_size`, `old_root`) is a prefix of (`new_size`, `new_root`).

    RFC 9162 §2.1.4.2. Trivial cases are held to their only valid form: equal sizes need equal roots
    and an empty proof; an old size of 0 needs the empty-tree root and an empty proof.
    """
    if not (_is_size(old_size) and _is_size(new_size) and _is_path(proof, new_size)):
        return False
    if not (_is_hash(old_root) and _is_hash(new_root)):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return len(proof) == 0 and old_root == new_root
    if old_size == 0:
        return len(proof) == 0 and old_root == _EMPTY_ROOT
    if len(proof) == 0:
        return False

    path = list(proof)
    if old_size & (old_size - 1) == 0:
        # The old tree is a perfect subtree of the new one; its root starts the path (step 2).
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
