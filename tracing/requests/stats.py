"""Statistics of the trace workflow (REQ-33, REQ-38) and SDG indicator 16.4.2 (REQ-39).

Times are in days, from sending (outgoing) or receipt (incoming) to acknowledgement and to the first answer,
restriction or refusal. SDG 16.4.2 counts each seized (only when linked to a criminal offence), found or
surrendered weapon of the period once; its illicit origin or context counts as established when the
registry says so (`origin_established`: by_tracing or by_other_means, recorded with the recovery or a later
`origin_assessed` event) or when an outgoing trace about it was answered in full or closed with the origin
established. The indicator is established ÷ (seized + found + surrendered); aggregates add numerators and
denominators, never ratios, and a past year is recomputed whenever it is asked (late trace results count).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from tracing.requests import repository as repo
from tracing.requests.models import TraceRequest, TraceTransition


def _days(a: datetime | None, b: datetime | None) -> float | None:
    return None if a is None or b is None else round((b - a).total_seconds() / 86400, 3)


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    # Nearest-rank percentile: a value that really occurred, as a report to other states should quote.
    rank = max(1, -(-int(q * 100) * len(ordered) // 100))
    return ordered[rank - 1]


def _summary(values: list[float]) -> dict[str, float | int | None]:
    return {
        "n": len(values),
        "median": round(statistics.median(values), 3) if values else None,
        "p90": _pct(values, 0.9),
    }


@dataclass
class Bucket:
    sent: int = 0
    received: int = 0
    answered: int = 0
    answered_full: int = 0
    answered_partial: int = 0
    delayed: int = 0
    restricted: int = 0
    refused: int = 0
    closed: int = 0
    grounds: Counter[str] = field(default_factory=Counter)
    ack_days: list[float] = field(default_factory=list)
    answer_days: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "received": self.received,
            "answered": self.answered,
            "answered_full": self.answered_full,
            "answered_partial": self.answered_partial,
            "delayed": self.delayed,
            "restricted": self.restricted,
            "refused": self.refused,
            "closed": self.closed,
            "refused_or_restricted_by_ground": dict(sorted(self.grounds.items())),
            "days_to_acknowledge": _summary(self.ack_days),
            "days_to_answer": _summary(self.answer_days),
        }


def _add(b: Bucket, req: TraceRequest, steps: list[TraceTransition]) -> None:
    start = req.sent_at if req.direction == "outgoing" else req.delivered_at
    if req.direction == "outgoing":
        b.sent += 1
    else:
        b.received += 1
    actions = [t.action for t in steps]
    b.delayed += "delay" in actions
    b.restricted += "restrict" in actions
    b.refused += "refuse" in actions
    b.closed += req.state == "closed"
    answers = [t for t in steps if t.action == "answer"]
    if answers:
        b.answered += 1
        last = answers[-1].details.get("completeness")
        b.answered_full += last == "full"
        b.answered_partial += last == "partial"
    for t in steps:
        if t.action in ("restrict", "refuse"):
            b.grounds.update(t.details.get("grounds") or [])
    if (d := _days(start, req.acknowledged_at)) is not None:
        b.ack_days.append(d)
    if (d := _days(start, req.answered_at)) is not None:
        b.answer_days.append(d)


def trace_statistics(session: Session, *, year: int | None = None) -> dict[str, Any]:
    """Counts and times overall, per direction, per partner state and per year (of sending/receipt)."""
    steps: dict[Any, list[TraceTransition]] = defaultdict(list)
    for t in repo.all_transitions(session):
        steps[t.request_id].append(t)
    total, per_partner, per_year = Bucket(), defaultdict(Bucket), defaultdict(Bucket)
    for req in repo.all_requests(session):
        start = req.sent_at if req.direction == "outgoing" else req.delivered_at
        if start is None:
            continue  # drafts are not requests yet
        if year is not None and start.year != year:
            continue
        partner = req.requested_country if req.direction == "outgoing" else req.requesting_country
        for b in (total, per_partner[partner], per_year[start.year]):
            _add(b, req, steps[req.id])
    return {
        "year": year,
        "total": total.as_dict(),
        "per_partner": {k: v.as_dict() for k, v in sorted(per_partner.items())},
        "per_year": {str(k): v.as_dict() for k, v in sorted(per_year.items())},
    }


ESTABLISHED = ("by_tracing", "by_other_means")


def sdg_16_4_2(session: Session, *, year: int | None = None) -> dict[str, Any]:
    """SDG 16.4.2 for recoveries in `year` (all years when None), with the facts behind it."""
    since = datetime(year, 1, 1, tzinfo=UTC) if year else None
    until = datetime(year + 1, 1, 1, tzinfo=UTC) if year else None
    first: dict[Any, Any] = {}
    for e in repo.recoveries(session, since=since, until=until):
        first.setdefault(e.weapon_id, e)  # a weapon recovered twice in the period counts once
    traced = _traced(session, first.keys())
    counts: Counter[str] = Counter()
    how: Counter[str] = Counter()
    excluded = 0
    for wid, e in first.items():
        if e.type == "seized" and not (e.data or {}).get("criminal_offence"):
            excluded += 1  # SDG 16.4.2 counts a seizure only when linked to a criminal offence
            continue
        counts[e.type] += 1
        origin = ((e.details or {}).get("recovery") or {}).get("origin")  # the state's, None without one
        origin = origin or (e.data or {}).get("origin_established") or "pending"
        if origin not in ESTABLISHED and wid in traced:
            origin = "by_tracing"
        how[origin] += 1
    denominator = counts["seized"] + counts["found"] + counts["surrendered"]
    numerator = how["by_tracing"] + how["by_other_means"]
    return {
        "year": year,
        "seized": counts["seized"],
        "found": counts["found"],
        "surrendered": counts["surrendered"],
        "seized_without_criminal_offence_excluded": excluded,
        "established": numerator,
        "established_by": {k: how[k] for k in ESTABLISHED},
        "not_established": {k: how[k] for k in ("pending", "insufficient_information", "not_attempted")},
        "denominator": denominator,
        "indicator": round(numerator / denominator, 4) if denominator else None,
    }


def _traced(session: Session, weapon_ids: Any) -> set[Any]:
    """Weapons among `weapon_ids` whose outgoing trace was answered in full or closed with the origin
    established."""
    wanted = set(weapon_ids)
    return {
        wid
        for _rid, wid, completeness, closed_established in repo.outgoing_traces_of_weapons(session)
        if wid in wanted and (completeness == "full" or closed_established)
    }


CSV_COLUMNS = (
    "scope", "key", "sent", "received", "answered", "answered_full", "answered_partial", "delayed", "restricted",
    "refused", "closed", "ack_n", "ack_median_days", "ack_p90_days", "answer_n", "answer_median_days",
    "answer_p90_days",
)  # fmt: skip


def csv_rows(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """`trace_statistics` as flat rows (total, then per partner, then per year) for CSV and spreadsheets."""

    def row(scope: str, key: str, b: dict[str, Any]) -> dict[str, Any]:
        ack, ans = b["days_to_acknowledge"], b["days_to_answer"]
        return {
            "scope": scope, "key": key, **{c: b[c] for c in CSV_COLUMNS[2:11]},
            "ack_n": ack["n"], "ack_median_days": ack["median"], "ack_p90_days": ack["p90"],
            "answer_n": ans["n"], "answer_median_days": ans["median"], "answer_p90_days": ans["p90"],
        }  # fmt: skip

    out = [row("total", str(figures.get("year") or "all"), figures["total"])]
    out += [row("partner", k, v) for k, v in figures["per_partner"].items()]
    out += [row("year", k, v) for k, v in figures["per_year"].items()]
    return out
