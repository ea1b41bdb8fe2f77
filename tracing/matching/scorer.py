"""Scoring one observed marking against one registered key. Pure: no database.

The observed text and the key are both normalised (upper case, letters and digits; `?` for an unreadable
position in the observation). The comparison is position by position, with at most one transposition of
two neighbouring characters, found by a small dynamic programme so that the cheapest explanation wins
(e.g. a transposition rather than two confusions). Plain substitutions are allowed only when the caller asks
(`max_substitutions`, used by the length-bounded fallback), and cost the most.

A score is 1.0 only for an exact match of the whole normalised text with nothing unreadable: a reading that
needed any tolerance is never reported as exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tracing.matching.skeleton import UNREADABLE, same_class

# Penalties, out of 1.0. Why these: an unreadable character says nothing (but the officer told us so); a
# confusion between look-alikes is the usual misreading; a transposition is a typing slip; a character that
# is neither is real evidence against the candidate.
UNREADABLE_COST = 0.06
CONFUSABLE_COST = 0.04
TRANSPOSITION_COST = 0.08
SUBSTITUTION_COST = 0.25
MIN_SCORE = 0.05


@dataclass(frozen=True)
class Difference:
    kind: str  # unreadable | confusable | transposition | substitution
    position: int  # 1-based, in the normalised text
    observed: str
    registered: str

    def describe(self) -> str:
        if self.kind == "unreadable":
            return f"position {self.position} unreadable (registered {self.registered!r})"
        if self.kind == "confusable":
            return f"{self.observed!r} read for {self.registered!r} at position {self.position}"
        if self.kind == "transposition":
            return f"{self.observed!r} transposed at positions {self.position}-{self.position + 1}"
        return f"{self.observed!r} differs from {self.registered!r} at position {self.position}"


@dataclass(frozen=True)
class Comparison:
    exact: bool
    score: float
    differences: tuple[Difference, ...] = field(default=())

    def count(self, kind: str) -> int:
        return sum(1 for d in self.differences if d.kind == kind)

    def reason(self) -> str:
        if self.exact:
            return "exact match of the normalised marking"
        if not self.differences:
            return "same characters"
        return "; ".join(d.describe() for d in self.differences)


_Cell = tuple[float, int, tuple[Difference, ...]]

_COST = {
    "unreadable": UNREADABLE_COST,
    "confusable": CONFUSABLE_COST,
    "transposition": TRANSPOSITION_COST,
    "substitution": SUBSTITUTION_COST,
}


def _single(o: str, r: str, pos: int) -> Difference | None:
    """The difference at one position, or None when the characters are equal."""
    if o == r:
        return None
    if o == UNREADABLE:
        return Difference("unreadable", pos, o, r)
    if same_class(o, r):
        return Difference("confusable", pos, o, r)
    return Difference("substitution", pos, o, r)


def _pair_swapped(o: str, r: str) -> bool:
    """Two observed characters that are the registered pair in the other order (allowing look-alikes;
    an unreadable character matches anything), where reading them in place would need a substitution."""
    in_place = all(a == UNREADABLE or same_class(a, b) for a, b in zip(o, r, strict=True))
    swapped = all(a == UNREADABLE or same_class(a, b) for a, b in zip(o, r[::-1], strict=True))
    return swapped and not in_place


def compare(observed: str, registered: str, *, max_substitutions: int = 0) -> Comparison | None:
    """How `registered` explains `observed`, or None if it cannot within the tolerances."""
    if len(observed) != len(registered) or not observed:
        return None
    if observed == registered:
        return Comparison(exact=True, score=1.0)
    n = len(observed)
    # best[i][t] = (cost, substitutions, differences) for the first i characters, t transpositions used.
    inf: _Cell = (float("inf"), 0, ())
    best: list[list[_Cell]] = [[inf, inf] for _ in range(n + 1)]
    best[0][0] = (0.0, 0, ())
    for i in range(n):
        for t in (0, 1):
            cost, subs, diffs = best[i][t]
            if cost == float("inf"):
                continue
            d = _single(observed[i], registered[i], i + 1)
            add = 0.0 if d is None else _COST[d.kind]
            s2 = subs + (1 if d is not None and d.kind == "substitution" else 0)
            if s2 <= max_substitutions:
                cand = (cost + add, s2, diffs + ((d,) if d else ()))
                if cand[0] < best[i + 1][t][0]:
                    best[i + 1][t] = cand
            if t == 0 and i + 1 < n and _pair_swapped(observed[i : i + 2], registered[i : i + 2]):
                swap = Difference("transposition", i + 1, observed[i : i + 2], registered[i : i + 2])
                cand = (cost + TRANSPOSITION_COST, subs, (*diffs, swap))
                if cand[0] < best[i + 2][1][0]:
                    best[i + 2][1] = cand
    final = min(best[n], key=lambda c: c[0])
    if final[0] == float("inf"):
        return None
    return Comparison(exact=False, score=round(max(MIN_SCORE, 1.0 - final[0]), 4), differences=final[2])
