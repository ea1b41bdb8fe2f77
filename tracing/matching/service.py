"""Ranked candidates for an observed marking: what `GET /api/v1/weapons?fuzzy=true` and an incoming trace
request's candidate review show.

Retrieval never scans the registry. With n characters observed, k of them unreadable (`?`):

1. **Probes.** The observed skeleton, and the skeleton with each pair of neighbours swapped (one
   transposition), are expanded over the 26 skeleton characters at each `?`: (n) × 26^k exact index probes
   on (length, skeleton) — 6,760 for ten characters with two unreadable. Confusable characters cost nothing:
   they share a skeleton. If that is more than `MAX_PROBES`, the transposition variants are dropped, then
   the probes altogether.
2. **Anchors**, when the probes find nothing or could not run: the longest readable prefix and suffix (at
   least `MIN_ANCHOR` characters, at most half the text) as index ranges on (length, skeleton) and
   (length, reversed tail), at most `ANCHOR_ROWS` rows each; here one plain misreading is tolerated.

Every row found is scored by `scorer.compare` (pure), the best row per weapon kept, and the list ranked by
score. Recall limits (docs/tracing.md): a reading with a character missing or added is not found; more than
three unreadable characters rely on the anchors; characters outside the confusable classes that the officer
did not mark `?` are tolerated once, and only through the anchors.

3. **Description.** With a `Description` (make, model, calibre… as the finder saw them), the candidates that
   could still reach the list once it counts are compared with it (`description.py`) and ranked by the
   marking's score plus the agreement. The marking's own score is kept and shown; the agreement is named in
   the reason. At most `DESCRIBED_ROWS` weapons are compared, best marking scores first.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.weapons import service as weapons
from registry.weapons.models import Weapon, WeaponState
from tracing.matching import repository as repo
from tracing.matching.description import MAX_BONUS, Description
from tracing.matching.scorer import Comparison, compare
from tracing.matching.skeleton import (
    REVERSED_TAIL,
    SKELETON_ALPHABET,
    UNREADABLE,
    normalise_observed,
    skeleton,
)

MAX_PROBES = 20_000
# An unreadable first or last character becomes one index range instead of 26 probes: the same rows. Not the
# second or last-but-one: that range leaves a character free, fetches 26 times the rows, and at 10,000,000
# weapons hit RANGE_ROWS and cut the right weapon (docs/performance.md, "Fuzzy serial search").
EDGE_RANGE = 1
RANGE_ROWS = 5_000
MIN_ANCHOR = 3
ANCHOR_ROWS = 2_000
MAX_LENGTH = 300
DESCRIBED_ROWS = 5_000

DESCRIBED_FIELD = {
    "make": "make",
    "model": "model",
    "calibre": "calibre",
    "category": "category",
    "country": "country of manufacture",
    "year": "year of manufacture",
}
SOURCE_LABEL = {
    "weapon_serial": "the weapon's serial",
    "mark_serial": "the serial of a mark",
    "mark_text": "the text of a mark",
}
# A serial is the better witness than a whole mark text matched by chance; the weapon's own serial best.
SOURCE_WEIGHT = {"weapon_serial": 0.0, "mark_serial": 0.0, "mark_text": -0.01}


@dataclass(frozen=True)
class Candidate:
    weapon_id: uuid.UUID
    score: float
    exact: bool
    reason: str
    matched: str  # the registered text that matched
    source: str
    method: str  # exact | probe | anchor
    agreement: float = 0.0  # what the description adds to the ranking (0 without one)
    agreed: tuple[str, ...] = ()  # the described fields the weapon's record agrees with

    @property
    def rank_score(self) -> float:
        return round(self.score + self.agreement, 4)

    @property
    def sort_key(self) -> tuple[float, int, str]:
        return (-self.rank_score, 0 if self.exact else 1, str(self.weapon_id))


@dataclass(frozen=True)
class Query:
    text: str  # normalised, with `?`
    unreadable: int

    @classmethod
    def parse(cls, raw: str, *, field: str = "serial") -> Query:
        text = normalise_observed(raw)
        if not text.replace(UNREADABLE, ""):
            raise ValidationError(
                "give the marking as read, with letters or digits (`?` for an unreadable one)",
                field=field,
                value=raw,
            )
        if len(text) > MAX_LENGTH:
            raise ValidationError(f"at most {MAX_LENGTH} characters", field=field)
        return cls(text=text, unreadable=text.count(UNREADABLE))


def _patterns(skel: str, *, budget: int) -> list[str]:
    """The observed skeleton and, within the budget, each with one pair of neighbours swapped."""
    per_pattern = len(SKELETON_ALPHABET) ** skel.count(UNREADABLE)
    if per_pattern > budget:
        return []
    swaps = [
        skel[:i] + skel[i + 1] + skel[i] + skel[i + 2 :]
        for i in range(len(skel) - 1)
        if skel[i] != skel[i + 1]
    ]
    return [skel, *swaps] if per_pattern * (1 + len(swaps)) <= budget else [skel]


def probe_patterns(skel: str, *, budget: int = MAX_PROBES) -> list[str]:
    """The exact skeletons to probe for an observed skeleton (see the module docstring)."""
    out: set[str] = set()
    for p in _patterns(skel, budget=budget):
        out.update(_fill(p, [i for i, c in enumerate(p) if c == UNREADABLE]))
    return sorted(out)


@dataclass(frozen=True)
class Plan:
    """The index look-ups for one observation: exact skeletons, and prefixes or suffixes as index ranges."""

    exact: list[str]
    prefixes: list[str]
    suffixes: list[str]

    @property
    def lookups(self) -> int:
        return len(self.exact) + len(self.prefixes) + len(self.suffixes)


def _fill(p: str, holes: list[int]) -> list[str]:
    if not holes:
        return [p]
    chars, out = list(p), []
    for fill in itertools.product(SKELETON_ALPHABET, repeat=len(holes)):
        for i, c in zip(holes, fill, strict=True):
            chars[i] = c
        out.append("".join(chars))
    return out


def plan(skel: str, *, budget: int = MAX_PROBES) -> Plan:
    """`probe_patterns`, with one saving: an unreadable character among the last (or first) `EDGE_RANGE`
    positions is not filled in but left to one index range on the readable prefix before it (or the suffix
    after it) — 26 times fewer look-ups for that pattern, and the same rows."""
    k = skel.count(UNREADABLE)
    if k == 0 or len(SKELETON_ALPHABET) ** k > budget:
        return Plan(probe_patterns(skel, budget=budget), [], [])
    exact: set[str] = set()
    prefixes: set[str] = set()
    suffixes: set[str] = set()
    n = len(skel)
    for p in _patterns(skel, budget=budget):
        holes = [i for i, c in enumerate(p) if c == UNREADABLE]
        if not holes:
            exact.add(p)
        elif n - holes[-1] <= EDGE_RANGE and holes[-1] >= MIN_ANCHOR:
            prefixes.update(f[: holes[-1]] for f in _fill(p, holes[:-1]))
        elif holes[0] < EDGE_RANGE and MIN_ANCHOR <= n - holes[0] - 1 <= REVERSED_TAIL:
            suffixes.update(f[holes[0] + 1 :] for f in _fill(p, holes[1:]))
        else:
            exact.update(_fill(p, holes))
    return Plan(sorted(exact), sorted(prefixes), sorted(suffixes))


def anchors(skel: str) -> tuple[str | None, str | None]:
    """The readable prefix and suffix used when the probes find nothing."""
    n = len(skel)
    half = max(MIN_ANCHOR, n // 2)
    first = skel.find(UNREADABLE)
    last = skel.rfind(UNREADABLE)
    prefix = skel[: min(half, first if first >= 0 else n)]
    suffix = skel[max(n - half, last + 1 if last >= 0 else 0) :]
    return (prefix if len(prefix) >= MIN_ANCHOR else None, suffix if len(suffix) >= MIN_ANCHOR else None)


def find_candidates(
    session: Session,
    *,
    observed: str,
    limit: int = 10,
    field: str = "serial",
    description: Description | None = None,
) -> list[Candidate]:
    """Ranked candidates for one observed marking (serial or whole mark text), ranked with the weapon's
    description when one is given."""
    q = Query.parse(observed, field=field)
    skel = skeleton(q.text)
    n = len(q.text)
    found: dict[uuid.UUID, Candidate] = {}
    todo = plan(skel)
    for chunk in _chunks(todo.exact, 5_000):
        _consider(found, repo.by_skeletons(session, n, chunk, limit=ANCHOR_ROWS), q, "probe", 0)
    for chunk in _chunks(todo.prefixes, 5_000):
        _consider(found, repo.by_prefixes(session, n, chunk, limit=RANGE_ROWS), q, "probe", 0)
    for chunk in _chunks(todo.suffixes, 5_000):
        _consider(found, repo.by_suffixes(session, n, chunk, limit=RANGE_ROWS), q, "probe", 0)
    if not found:
        prefix, suffix = anchors(skel)
        if prefix:
            _consider(found, repo.by_prefix(session, n, prefix, limit=ANCHOR_ROWS), q, "anchor", 1)
        if suffix:
            _consider(found, repo.by_suffix(session, n, suffix, limit=ANCHOR_ROWS), q, "anchor", 1)
    ranked = sorted(found.values(), key=lambda c: c.sort_key)
    if description:
        ranked = _described(session, ranked, description, limit)
    return ranked[:limit]


def _described(
    session: Session, ranked: list[Candidate], description: Description, limit: int
) -> list[Candidate]:
    """`ranked` reordered by marking score plus agreement with `description`. Only candidates whose marking
    score is within `MAX_BONUS` of the `limit`-th best can change places in the list, so only those are
    read from the registry."""
    if not ranked:
        return ranked
    floor = ranked[min(limit, len(ranked)) - 1].score - MAX_BONUS
    reach = [c for c in ranked if c.score >= floor][:DESCRIBED_ROWS]
    records = repo.registered(session, [c.weapon_id for c in reach])
    out = []
    for c in reach:
        w = records.get(c.weapon_id)
        if w is None:
            out.append(c)
            continue
        bonus, agreed = description.agreement(w)
        reason = c.reason + (f"; {_agreed_text(agreed)} as described" if agreed else "")
        out.append(replace(c, agreement=bonus, agreed=agreed, reason=reason))
    return sorted(out, key=lambda c: c.sort_key) + ranked[len(reach) :]


def _agreed_text(fields: tuple[str, ...]) -> str:
    names = [DESCRIBED_FIELD[f] for f in fields]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _consider(
    found: dict[uuid.UUID, Candidate], hits: list[repo.Hit], q: Query, method: str, subs: int
) -> None:
    for h in hits:
        cmp = compare(q.text, h.key, max_substitutions=subs)
        if cmp is None:
            continue
        cand = _candidate(h, cmp, method)
        have = found.get(h.weapon_id)
        if have is None or cand.sort_key < have.sort_key:
            found[h.weapon_id] = cand


def _candidate(h: repo.Hit, cmp: Comparison, method: str) -> Candidate:
    score = round(max(0.01, cmp.score + SOURCE_WEIGHT[h.source]), 4) if not cmp.exact else 1.0
    return Candidate(
        weapon_id=h.weapon_id,
        score=score,
        exact=cmp.exact,
        reason=f"{cmp.reason()} — matched {SOURCE_LABEL[h.source]} {h.key}",
        matched=h.key,
        source=h.source,
        method="exact" if cmp.exact else method,
    )


def with_records(
    session: Session, candidates: list[Candidate]
) -> list[tuple[Candidate, Weapon, WeaponState]]:
    """Each candidate with its weapon record and current state, in rank order."""
    out = []
    for c in candidates:
        w, s = weapons.get(session, c.weapon_id)
        out.append((c, w, s))
    return out
