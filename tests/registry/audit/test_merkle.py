"""Merkle tree and proofs: RFC 6962/9162 reference vectors, a naive reference model, and properties."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.audit.merkle import (
    EMPTY_ROOT,
    MerkleAccumulator,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
)
from registry.audit.verify import root_from_inclusion, verify_consistency, verify_inclusion

# Reference vectors of the certificate-transparency reference implementation, as carried on in
# github.com/transparency-dev/merkle, proof/verify_test.go (also google/trillian merkle tests and
# certificate-transparency-go). The Go file numbers leaves from 1; the indices below are 0-based.
RFC_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
RFC_ROOTS = {  # tree size -> MTH of the first `size` leaves
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
RFC_INCLUSION = [  # (index, size, audit path)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (0, 1, []),
]
RFC_CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
RFC_LEAF_HASHES = [leaf_hash(d) for d in RFC_LEAVES]

# Distinct leaves for the property tests: equal leaves would make some proofs legitimately
# interchangeable (leaf 0 and leaf 1 of [x, x] share an audit path) and hide nothing.
MAX_SIZE = 300
LEAVES = [leaf_hash(b"entry-%d" % i) for i in range(MAX_SIZE + 8)]
ROOTS = [root(LEAVES[:n]) for n in range(len(LEAVES) + 1)]


# --- A naive model, written straight from RFC 9162 §2.1 with no shortcuts ---------------------------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    if len(leaves) == 0:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return node_hash(naive_mth(leaves[:k]), naive_mth(leaves[k:]))


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [naive_mth(leaves)]
    k = _split(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], whole), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


def _flip(value: bytes, position: int, mask: int) -> bytes:
    out = bytearray(value)
    out[position % len(out)] ^= mask
    return bytes(out)


# --- Reference vectors ----------------------------------------------------------------------------


def test_hash_primitives() -> None:
    assert EMPTY_ROOT.hex() == RFC_ROOTS[0]
    assert leaf_hash(b"").hex() == RFC_ROOTS[1]  # a single leaf tree's root is its leaf hash
    assert node_hash(RFC_LEAF_HASHES[0], RFC_LEAF_HASHES[1]).hex() == RFC_ROOTS[2]


@pytest.mark.parametrize("size", sorted(RFC_ROOTS))
def test_rfc_roots(size: int) -> None:
    assert root(RFC_LEAF_HASHES[:size]).hex() == RFC_ROOTS[size]
    acc = MerkleAccumulator()
    acc.extend(RFC_LEAF_HASHES[:size])
    assert acc.root().hex() == RFC_ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), RFC_INCLUSION)
def test_rfc_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    proof = inclusion_proof(RFC_LEAF_HASHES, index, size)
    assert [p.hex() for p in proof] == path
    leaf, tree_root = RFC_LEAF_HASHES[index], bytes.fromhex(RFC_ROOTS[size])
    assert verify_inclusion(leaf, index, size, proof, tree_root)
    assert root_from_inclusion(leaf, index, size, proof) == tree_root


@pytest.mark.parametrize(("old", "new", "path"), RFC_CONSISTENCY)
def test_rfc_consistency_proofs(old: int, new: int, path: list[str]) -> None:
    proof = consistency_proof(RFC_LEAF_HASHES, old, new)
    assert [p.hex() for p in proof] == path
    assert verify_consistency(old, new, bytes.fromhex(RFC_ROOTS[old]), bytes.fromhex(RFC_ROOTS[new]), proof)


def test_rfc_corruptions_are_rejected() -> None:
    """The probes of the Go reference tests (wrong index/size, garbage before/after, flipped bits)."""
    some_hash = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")
    for index, size, hex_path in RFC_INCLUSION[:4]:
        path = [bytes.fromhex(h) for h in hex_path]
        leaf, tree_root = RFC_LEAF_HASHES[index], bytes.fromhex(RFC_ROOTS[size])
        probes = [
            (index - 1, size, leaf, path, tree_root),
            (index + 1, size, leaf, path, tree_root),
            (index ^ 2, size, leaf, path, tree_root),
            (index, size * 2, leaf, path, tree_root),
            (index, size // 2, leaf, path, tree_root),
            (index, size, b"WrongLeaf", path, tree_root),
            (index, size, leaf, path, EMPTY_ROOT),
            (index, size, leaf, path, some_hash),
            (index, size, leaf, [*path, b""], tree_root),
            (index, size, leaf, [*path, tree_root], tree_root),
            (index, size, leaf, [b"", *path], tree_root),
            (index, size, leaf, [tree_root, *path], tree_root),
            (index, size, leaf, path[:-1], tree_root),
            (index, size, leaf, [path[0], some_hash, *path[1:]], tree_root),
        ]
        probes += [
            (index, size, leaf, [*path[:i], _flip(path[i], 0, 8), *path[i + 1 :]], tree_root)
            for i in range(len(path))
        ]
        for probe in probes:
            assert not verify_inclusion(probe[2], probe[0], probe[1], probe[3], probe[4]), probe

    for old, new, hex_path in RFC_CONSISTENCY[1:]:
        path = [bytes.fromhex(h) for h in hex_path]
        r1, r2 = bytes.fromhex(RFC_ROOTS[old]), bytes.fromhex(RFC_ROOTS[new])
        probes_c = [
            (old - 1, new, r1, r2, path),
            (old + 1, new, r1, r2, path),
            (old ^ 2, new, r1, r2, path),
            (old, new * 2, r1, r2, path),
            (old, new // 2, r1, r2, path),
            (old, new, b"WrongRoot", r2, path),
            (old, new, r1, b"WrongRoot", path),
            (old, new, r2, r1, path),
            (old, new, r1, r2, []),
            (old, new, r1, r2, [*path, b""]),
            (old, new, r1, r2, [*path, r1]),
            (old, new, r1, r2, [*path, r2]),
            (old, new, r1, r2, [b"", *path]),
            (old, new, r1, r2, [r1, *path]),
            (old, new, r1, r2, [r2, *path]),
            (old, new, r1, r2, [path[0], *path]),
            (old, new, r1, r2, path[:-1]),
        ]
        probes_c += [
            (old, new, r1, r2, [*path[:i], _flip(path[i], 0, 16), *path[i + 1 :]]) for i in range(len(path))
        ]
        for probe_c in probes_c:
            assert not verify_consistency(*probe_c), probe_c


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "expected"),
    [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (0, 5, EMPTY_ROOT, ROOTS[5], [], True),  # the empty tree is a prefix of every tree
        (0, 5, ROOTS[1], ROOTS[5], [], False),  # ...but only with the empty-tree root
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),  # trivial cases take no proof
        (4, 4, ROOTS[4], ROOTS[4], [], True),
        (4, 4, ROOTS[4], ROOTS[5], [], False),
        (4, 4, ROOTS[4], ROOTS[4], [EMPTY_ROOT], False),
        (5, 4, ROOTS[5], ROOTS[4], [], False),  # time travel
        (1, 2, ROOTS[1], ROOTS[2], [], False),  # non-trivial needs a proof
    ],
)
def test_consistency_trivial_cases(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], expected: bool
) -> None:
    assert verify_consistency(old, new, old_root, new_root, proof) is expected


# --- Against the naive model ----------------------------------------------------------------------


def test_root_matches_naive_model_and_accumulator_at_every_size() -> None:
    acc = MerkleAccumulator()
    assert acc.size == 0
    assert acc.root() == EMPTY_ROOT == root([])
    for n in range(1, MAX_SIZE + 1):
        acc.append(LEAVES[n - 1])
        assert acc.size == n
        assert root(LEAVES[:n]) == naive_mth(LEAVES[:n]) == acc.root(), n


def test_proofs_match_naive_model_and_verify_exhaustively() -> None:
    for n in range(1, 65):
        tree_root = ROOTS[n]
        for i in range(n):
            proof = inclusion_proof(LEAVES, i, n)
            assert proof == naive_path(i, LEAVES[:n]), (i, n)
            assert verify_inclusion(LEAVES[i], i, n, proof, tree_root), (i, n)
        for m in range(n + 1):
            proof = consistency_proof(LEAVES, m, n)
            expected = [] if m in (0, n) else naive_subproof(m, LEAVES[:n], True)
            assert proof == expected, (m, n)
            assert verify_consistency(m, n, ROOTS[m], tree_root, proof), (m, n)


def test_large_tree_proofs() -> None:
    # Not a timing test; it guards against a slide back into rehashing per level (minutes, not ms).
    leaves = [leaf_hash(i.to_bytes(4, "big")) for i in range(2**16 + 3)]
    n = len(leaves)
    tree_root = root(leaves)
    for i in (0, 1, 2**15, n - 2, n - 1):
        assert verify_inclusion(leaves[i], i, n, inclusion_proof(leaves, i, n), tree_root)
    for m in (1, 3, 2**16, n - 1):
        assert verify_consistency(m, n, root(leaves[:m]), tree_root, consistency_proof(leaves, m, n))


def test_size_alone_is_not_bound_by_an_audit_path() -> None:
    """Why a tree head must sign size and root together: leaf 0's path in a tree of 3 leaves has
    the same shape as in a tree of 4, so it 'verifies' at size 4 against the size-3 root (RFC 9162
    behaviour, not a bug here). Against the true size-4 root it fails."""
    proof = inclusion_proof(LEAVES, 0, 3)
    assert verify_inclusion(LEAVES[0], 0, 4, proof, ROOTS[3])
    assert not verify_inclusion(LEAVES[0], 0, 4, proof, ROOTS[4])


# --- Argument checking ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "size", "match"),
    [
        (-1, 5, "leaf index -1"),
        (5, 5, "leaf index 5"),
        (0, 0, "leaf index 0"),
        (0, 9, "size 9 is outside"),
        (0, -1, "size -1 is outside"),
    ],
)
def test_inclusion_proof_rejects_out_of_range(index: int, size: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        inclusion_proof(LEAVES[:8], index, size)


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [(3, 2, "old_size 3"), (-1, 2, "old_size -1"), (2, 9, "new_size 9 is outside"), (0, -1, "new_size -1")],
)
def test_consistency_proof_rejects_out_of_range(old: int, new: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        consistency_proof(LEAVES[:8], old, new)


def test_sizes_must_be_ints() -> None:
    with pytest.raises(TypeError):
        inclusion_proof(LEAVES[:8], 0, True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        consistency_proof(LEAVES[:8], 1, 2.0)  # type: ignore[arg-type]


def test_accumulator_rejects_wrong_hash_length() -> None:
    acc = MerkleAccumulator()
    with pytest.raises(ValueError, match="32 bytes"):
        acc.append(b"short")
    assert acc.size == 0
    assert repr(acc) == "MerkleAccumulator(size=0)"


# --- Properties -----------------------------------------------------------------------------------

_PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_PROPERTY_SETTINGS
@given(size=st.integers(1, MAX_SIZE), data=st.data())
def test_inclusion_property(size: int, data: st.DataObject) -> None:
    tree_root = ROOTS[size]
    proofs = [inclusion_proof(LEAVES, i, size) for i in range(size)]
    for i, proof in enumerate(proofs):
        assert verify_inclusion(LEAVES[i], i, size, proof, tree_root), i

    i = data.draw(st.integers(0, size - 1), label="index")
    proof, leaf = proofs[i], LEAVES[i]
    pos = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")

    assert not verify_inclusion(_flip(leaf, pos, mask), i, size, proof, tree_root)
    assert not verify_inclusion(leaf, i, size, proof, _flip(tree_root, pos, mask))
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        tampered = [*proof[:k], _flip(proof[k], pos, mask), *proof[k + 1 :]]
        assert not verify_inclusion(leaf, i, size, tampered, tree_root)
        assert not verify_inclusion(leaf, i, size, proof[:-1], tree_root)
    extra = data.draw(st.sampled_from([tree_root, leaf, EMPTY_ROOT, LEAVES[-1]]), label="extra")
    assert not verify_inclusion(leaf, i, size, [*proof, extra], tree_root)
    assert not verify_inclusion(leaf, i, size, [extra, *proof], tree_root)

    other_index = data.draw(st.integers(-2, size + 2).filter(lambda j: j != i), label="other index")
    assert not verify_inclusion(leaf, other_index, size, proof, tree_root)
    # A different size comes with its own root in any signed tree head.
    other_size = data.draw(st.integers(0, len(LEAVES)).filter(lambda n: n != size), label="other size")
    assert not verify_inclusion(leaf, i, other_size, proof, ROOTS[other_size])


@_PROPERTY_SETTINGS
@given(size=st.integers(1, MAX_SIZE), data=st.data())
def test_consistency_property(size: int, data: st.DataObject) -> None:
    new_root = ROOTS[size]
    proofs = [consistency_proof(LEAVES, m, size) for m in range(size + 1)]
    for m, proof in enumerate(proofs):
        assert verify_consistency(m, size, ROOTS[m], new_root, proof), m

    m = data.draw(st.integers(0, size), label="old size")
    proof, old_root = proofs[m], ROOTS[m]
    pos = data.draw(st.integers(0, 31), label="byte")
    mask = data.draw(st.integers(1, 255), label="mask")

    assert not verify_consistency(m, size, _flip(old_root, pos, mask), new_root, proof)
    # The empty tree is a prefix of every tree: with old size 0 the new root is not constrained.
    assert verify_consistency(m, size, old_root, _flip(new_root, pos, mask), proof) is (m == 0)
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1), label="proof element")
        tampered = [*proof[:k], _flip(proof[k], pos, mask), *proof[k + 1 :]]
        assert not verify_consistency(m, size, old_root, new_root, tampered)
        assert not verify_consistency(m, size, old_root, new_root, proof[:-1])
        assert not verify_consistency(m, size, new_root, old_root, proof)
    extra = data.draw(st.sampled_from([old_root, new_root, EMPTY_ROOT, LEAVES[0]]), label="extra")
    assert not verify_consistency(m, size, old_root, new_root, [*proof, extra])
    assert not verify_consistency(m, size, old_root, new_root, [extra, *proof])

    # Other sizes, each with its true root (as a signed tree head would give): an empty proof is
    # still right only where the claim is trivially true (old tree empty, or both trees equal).
    other_old = data.draw(st.integers(0, size).filter(lambda x: x != m), label="other old size")
    expected = not proof and other_old in (0, size)
    assert verify_consistency(other_old, size, ROOTS[other_old], new_root, proof) is expected
    other_new = data.draw(st.integers(m, len(LEAVES)).filter(lambda x: x != size), label="other new size")
    assert verify_consistency(m, other_new, old_root, ROOTS[other_new], proof) is (m == 0)


_junk = st.one_of(
    st.binary(max_size=40), st.binary(min_size=32, max_size=32), st.none(), st.text(max_size=3), st.integers()
)


@settings(max_examples=300, deadline=None)
@given(
    a=st.one_of(st.integers(-3, 40), st.booleans(), st.none()),
    b=st.one_of(st.integers(-3, 40), st.booleans(), st.none()),
    h1=_junk,
    h2=_junk,
    proof=st.one_of(st.lists(_junk, max_size=8), st.binary(max_size=64), st.text(max_size=4), st.none()),
)
def test_verifiers_never_raise(a: object, b: object, h1: object, h2: object, proof: object) -> None:
    # Hostile input of any shape is a failed verification, never an exception.
    assert verify_inclusion(h1, a, b, proof, h2) in (True, False)  # type: ignore[arg-type]
    assert verify_consistency(a, b, h1, h2, proof) in (True, False)  # type: ignore[arg-type]
    computed = root_from_inclusion(h1, a, b, proof)  # type: ignore[arg-type]
    assert computed is None or len(computed) == 32


def test_oversized_proofs_are_turned_away() -> None:
    # A hostile server cannot make a verifier hash (or even scan) an arbitrarily long "proof".
    junk = [EMPTY_ROOT] * 1_000_000
    assert not verify_inclusion(LEAVES[0], 0, 8, junk, ROOTS[8])
    assert not verify_consistency(3, 8, ROOTS[3], ROOTS[8], junk)
