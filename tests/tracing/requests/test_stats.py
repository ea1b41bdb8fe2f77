"""Statistics from known data: counts, times to acknowledge and answer, per partner and year, and SDG 16.4.2."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from registry.history.inputs import EventInput
from tests.factories import record, register_weapon
from tests.tracing.requests.conftest import Inbound, complete_input, request_body
from tracing.requests import service as traces
from tracing.requests import stats

OFFICER = "poc-officer"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _outgoing(
    session: Session, inbound: Inbound, *, to: str, ack: float, answer: float | None, outcome: str
) -> None:
    req = traces.create_draft(session, actor=OFFICER, data=complete_input(requested_country=to)).request
    traces.send(session, actor=OFFICER, request_id=req.id)
    req.sent_at = T0
    msg = inbound("trace.acknowledgement", {"request_id": str(req.id)}, sender=to)
    object.__setattr__(msg, "sent_at", _at(ack))
    traces.on_acknowledgement(session, msg)
    if answer is not None:
        body = {"request_id": str(req.id), "outcome": outcome, "completeness": "full",
                "grounds": ["national_security"], "reason": "r"}  # fmt: skip
        msg = inbound("trace.response", body, sender=to)
        object.__setattr__(msg, "sent_at", _at(answer))
        traces.on_response(session, msg)
    session.flush()


def test_counts_and_times(session: Session, node: str, inbound: Inbound) -> None:
    _outgoing(session, inbound, to="UG", ack=1, answer=10, outcome="answered")
    _outgoing(session, inbound, to="UG", ack=3, answer=20, outcome="refused")
    _outgoing(session, inbound, to="TZ", ack=2, answer=None, outcome="")
    incoming = traces.receive(session, message=inbound("trace.request", request_body()))
    traces.delay(session, actor=OFFICER, request_id=incoming.id, reason_code="records_being_searched",
                 reason="archive", expected_by=datetime.now(UTC).date() + timedelta(days=9))  # fmt: skip
    traces.create_draft(session, actor=OFFICER, data=complete_input())  # a draft is not counted

    out = stats.trace_statistics(session)
    total = out["total"]
    assert (total["sent"], total["received"]) == (3, 1)
    assert (total["answered"], total["answered_full"], total["refused"], total["delayed"]) == (1, 1, 1, 1)
    assert total["refused_or_restricted_by_ground"] == {"national_security": 1}
    ack = total["days_to_acknowledge"]
    assert ack["n"] == 4
    assert ack["p90"] == 3.0  # nearest rank of 0 (automatic), 1, 2, 3
    answer = total["days_to_answer"]
    assert (answer["n"], answer["median"]) == (2, 15.0)
    ug = out["per_partner"]["UG"]
    assert (ug["sent"], ug["received"], ug["answered"], ug["refused"]) == (2, 1, 1, 1)
    assert out["per_partner"]["TZ"]["sent"] == 1
    assert out["per_year"]["2026"]["sent"] == 3
    assert stats.trace_statistics(session, year=2025)["total"]["sent"] == 0


def test_sdg_16_4_2_from_recoveries_and_trace_outcomes(session: Session, node: str, inbound: Inbound) -> None:
    def recovered(kind: str, **data: object) -> object:
        reg = register_weapon(session)
        record(
            session,
            reg.weapon.id,
            EventInput(type=kind, occurred_at=_at(0), location="Nairobi", data=dict(data)),
        )
        return reg.weapon.id

    recovered("seized", criminal_offence=True, origin_established="by_other_means")
    traced = recovered("seized", criminal_offence=True)
    recovered("seized", criminal_offence=False)  # not counted: no criminal offence
    recovered("found", origin_established="insufficient_information")
    recovered("surrendered")
    # The trace about `traced` is answered in full: its origin counts as established by tracing.
    req = traces.create_draft(session, actor=OFFICER, data=complete_input(weapon_id=traced)).request
    traces.send(session, actor=OFFICER, request_id=req.id)
    traces.on_response(
        session,
        inbound("trace.response", {"request_id": str(req.id), "outcome": "answered", "completeness": "full"}),
    )

    out = stats.sdg_16_4_2(session, year=2026)
    assert (out["seized"], out["found"], out["surrendered"]) == (2, 1, 1)
    assert out["seized_without_criminal_offence_excluded"] == 1
    assert out["established_by"] == {"by_tracing": 1, "by_other_means": 1}
    assert out["not_established"] == {"pending": 1, "insufficient_information": 1, "not_attempted": 0}
    assert (out["established"], out["denominator"], out["indicator"]) == (2, 4, 0.5)
    assert stats.sdg_16_4_2(session, year=2025)["indicator"] is None
