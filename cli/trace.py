"""`iti trace …`: the point of contact's tool for trace requests between states (docs/tracing.md).

Compose with `new` (a draft), check it with `show`, `send` it; incoming requests arrive through the
federation inbox, are acknowledged automatically, and wait for the officer's `answer`, `delay`,
`restrict` or `refuse`. `overdue` lists what is late, `stats` the figures for the national report.
"""

from __future__ import annotations

import csv
import mimetypes
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.common import Exit, actor, emit, fail, parse_uuid, print_warnings, table, transaction
from cli.i18n import L_, _, label, ngettext
from tracing.requests import disclosure, exchange
from tracing.requests import service as traces
from tracing.requests import stats as trace_stats
from tracing.requests.inputs import ObservedMarking, TraceRequestInput
from tracing.requests.models import TraceRequest

app = typer.Typer(
    help="Trace requests between national points of contact (ITI section V).", no_args_is_help=True
)

Id = Annotated[str, typer.Argument(help="The request id")]
Purpose = Annotated[
    str, typer.Option(help="What the information is used for: an intended-use code (REQ-32, docs/tracing.md)")
]
Recipient = Annotated[str | None, typer.Option(help="Who the information is disclosed to")]


def _summary(r: TraceRequest) -> dict[str, Any]:
    return {
        "id": r.id,
        "direction": r.direction,
        "state": r.state,
        "partner": r.requested_country if r.direction == "outgoing" else r.requesting_country,
        "case_reference": r.case_reference,
        "urgency": r.urgency,
        "sent_at": r.sent_at or r.delivered_at,
        "answer_due": r.answer_due,
    }


def _full(session: Any, r: TraceRequest) -> dict[str, Any]:
    cols = [c.key for c in TraceRequest.__table__.columns]
    out = {c: getattr(r, c) for c in cols}
    out["transitions"] = [
        {
            "seq": t.seq,
            "action": t.action,
            "from": t.from_state,
            "to": t.to_state,
            "at": t.at,
            "actor": t.actor,
        }
        for t in traces.transitions(session, r.id)
    ]
    out["attachments"] = [
        {"id": a.id, "filename": a.filename, "media_type": a.media_type, "size": a.size}
        for a in traces.attachments(session, r.id)
    ]
    out["next_hop"] = traces.next_hop(session, r) if r.direction == "outgoing" else None
    return out


def _marking(value: str) -> ObservedMarking:
    parts = [p.strip() for p in value.split("|")]
    if len(parts) < 2 or not parts[0]:
        fail(
            L_(
                "--marking is TEXT|POSITION[|KIND[|SERIAL]], e.g. 'GLOCK AUSTRIA AB?2345|frame, left'; got %(value)r",
                value=value,
            ),
            Exit.INVALID,
            {"field": "markings"},
        )
    parts += [""] * (4 - len(parts))
    return ObservedMarking(text=parts[0], position=parts[1], kind=parts[2] or None, serial=parts[3] or None)


def _show(session: Any, r: TraceRequest, warnings: list[Any] | None = None) -> None:
    print_warnings(warnings or [])
    data = _full(session, r)
    title = (
        _("[bold]outgoing trace %(id)s[/] — %(state)s", id=r.id, state=label(r.state))
        if r.direction == "outgoing"
        else _("[bold]incoming trace %(id)s[/] — %(state)s", id=r.id, state=label(r.state))
    )
    lines = [
        title,
        _(
            "case %(case)s · %(route)s · %(urgency)s · %(confidentiality)s",
            case=r.case_reference,
            route=f"{r.requesting_country} → {r.requested_country}",
            urgency=label(r.urgency),
            confidentiality=label(r.confidentiality),
        ),
        _(
            "weapon: %(description)s",
            description=f"{r.category or '?'} {r.make or '?'} {r.model or ''} {r.calibre or ''}".rstrip(),
        ),
        *[
            "  "
            + _(
                "marking: %(text)s  (%(position)s)",
                text=m.get("text"),
                position=m.get("position") or _("position?"),
            )
            for m in r.markings
        ],
        _(
            "due: acknowledgement %(ack)s · answer %(answer)s",
            ack=r.ack_due or "-",
            answer=r.answer_due or "-",
        ),
    ]
    for c in r.candidates or []:
        lines.append(
            "  "
            + _(
                "candidate %(weapon)s  score %(score)s  %(reason)s",
                weapon=c["weapon_id"],
                score=f"{c['score']:.2f}",
                reason=c["reason"],
            )
        )
    if r.response:
        outcome = f"{label(r.response.get('outcome'))} {label(r.response.get('completeness'))}".rstrip()
        lines.append(_("response: %(outcome)s", outcome=outcome))
    if data["next_hop"]:
        lines.append(
            _("next hop: %(country)s", country=data["next_hop"]) + f" (`iti trace follow-up {r.id}`)"
        )
    for t in data["transitions"]:
        lines.append(
            f"  {t['seq']}. {t['at']:%Y-%m-%d %H:%M} "
            + _(
                "%(action)s: %(from)s → %(to)s by %(actor)s",
                action=label(t["action"]),
                **{"from": label(t["from"]), "to": label(t["to"])},
                actor=t["actor"],
            )
        )
    emit(data, human="\n".join(lines))


@app.command("new")
def new(
    to: Annotated[str, typer.Option("--to", help="The requested state (ISO code)")],
    case: Annotated[str, typer.Option("--case", help="Your case reference")],
    marking: Annotated[list[str], typer.Option(help="TEXT|POSITION[|KIND[|SERIAL]], `?` unreadable")] = [],  # noqa: B006
    illicit: Annotated[str, typer.Option(help="Why the weapon is illicit (ITI 17(a))")] = "",
    legal: Annotated[str, typer.Option(help="The legal justification")] = "",
    use: Annotated[str, typer.Option(help="The intended use of the information (ITI 17(c))")] = "",
    use_code: Annotated[str | None, typer.Option(help="criminal_investigation, prosecution, …")] = None,
    category: Annotated[str | None, typer.Option(help="Type/category code, e.g. SA-PIS")] = None,
    make: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    calibre: Annotated[str | None, typer.Option()] = None,
    other: Annotated[str, typer.Option(help="Other relevant information")] = "",
    urgency: Annotated[str, typer.Option(help="routine or urgent")] = "routine",
    confidentiality: Annotated[str, typer.Option(help="restricted, confidential or secret")] = "restricted",
    recovery: Annotated[str | None, typer.Option(help="seized, found or surrendered")] = None,
    recovered_on: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None,
    place: Annotated[str | None, typer.Option(help="Where it was recovered")] = None,
    weapon: Annotated[str | None, typer.Option(help="This registry's record of the weapon")] = None,
    follow_up_of: Annotated[str | None, typer.Option(help="An earlier request this one follows up")] = None,
    poc_name: Annotated[str | None, typer.Option(help="Default: the node's PoC")] = None,
    poc_contact: Annotated[str | None, typer.Option()] = None,
    photo: Annotated[list[Path], typer.Option(help="A photo of the weapon or its marks (repeatable)")] = [],  # noqa: B006
) -> None:
    """Compose a trace request (a draft: nothing leaves until `iti trace send`)."""
    try:
        when = date.fromisoformat(recovered_on) if recovered_on else None
    except ValueError:
        fail(L_("--recovered-on must be YYYY-MM-DD"), Exit.INVALID, {"field": "recovered_on"})
    data = TraceRequestInput(
        requested_country=to, case_reference=case, illicit_nature=illicit, legal_justification=legal,
        intended_use=use, intended_use_code=use_code, markings=[_marking(m) for m in marking], category=category,
        make=make, model=model, calibre=calibre, other_info=other, urgency=urgency, confidentiality=confidentiality,
        recovery_kind=recovery, recovered_on=when, recovery_place=place,
        weapon_id=parse_uuid(weapon, "weapon") if weapon else None,
        follow_up_of=parse_uuid(follow_up_of, "follow_up_of") if follow_up_of else None,
        poc_name=poc_name, poc_contact=poc_contact,
    )  # fmt: skip
    with transaction(writes=True) as session:
        out = traces.create_draft(session, actor=actor(), data=data)
        for p in photo:
            media = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
            traces.add_attachment(
                session,
                actor=actor(),
                request_id=out.request.id,
                filename=p.name,
                media_type=media,
                data=p.read_bytes(),
            )
        _show(session, out.request, out.warnings)


def _act(fn: Any, request_id: str, **kwargs: Any) -> None:
    with transaction(writes=True) as session:
        out = fn(session, actor=actor(), request_id=parse_uuid(request_id, "request_id"), **kwargs)
        req = out.request if hasattr(out, "request") else out
        _show(session, req, getattr(out, "warnings", None))


@app.command("send")
def send(request_id: Id) -> None:
    """Send a draft: checks what ITI 17 requires, searches the lost/stolen records, queues it for the PoC."""
    _act(traces.send, request_id)


@app.command("show")
def show(request_id: Id) -> None:
    """A request with its candidates, response and history (the view is audited)."""
    with transaction() as session:
        _show(session, traces.view(session, actor=actor(), request_id=parse_uuid(request_id, "request_id")))


@app.command("export")
def export(
    request_id: Id,
    purpose: Purpose,
    recipient: Recipient = None,
    out: Annotated[Path | None, typer.Option(help="Write the JSON here (default: standard output)")] = None,
) -> None:
    """The request and its answer as one structured JSON document (format iti-trace-export/1, docs/tracing.md)
    for other channels such as INTERPOL's; the request part follows the published message schema."""
    import orjson

    with transaction() as session:
        doc = exchange.export_document(
            session,
            actor=actor(),
            request_id=parse_uuid(request_id, "request_id"),
            purpose=purpose,
            recipient=recipient,
        )
    data = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
    if out is None:
        typer.echo(data.decode())
        return
    out.write_bytes(data + b"\n")
    emit(
        {"written": str(out), "format": doc["format"]},
        human=_("written %(path)s (%(format)s)", path=out, format=doc["format"]),
    )


@app.command("list")
def list_(
    direction: Annotated[str | None, typer.Option(help="outgoing or incoming")] = None,
    state: Annotated[str | None, typer.Option()] = None,
    country: Annotated[str | None, typer.Option(help="Partner state")] = None,
    limit: Annotated[int, typer.Option()] = 50,
) -> None:
    """Trace requests, newest first."""
    with transaction() as session:
        traces.refresh_deliveries(session)
        rows = [
            _summary(r)
            for r in traces.search(session, direction=direction, state=state, country=country, limit=limit)
        ]
    emit(
        rows,
        human=table(
            ngettext("%(num)d trace request", "%(num)d trace requests", len(rows)),
            [
                _("id"),
                _("direction"),
                _("state"),
                _("partner"),
                _("case"),
                _("urgency"),
                _("sent/received"),
                _("answer due"),
            ],
            [
                [
                    r["id"],
                    label(r["direction"]),
                    label(r["state"]),
                    r["partner"],
                    r["case_reference"],
                    label(r["urgency"]),
                    r["sent_at"],
                    r["answer_due"],
                ]
                for r in rows
            ],
        ),
    )


@app.command("ack")
def ack(request_id: Id) -> None:
    """Acknowledge receipt of an incoming request (automatic unless ITI_TRACE_AUTO_ACK=false)."""
    _act(traces.acknowledge, request_id)


@app.command("candidates")
def candidates(request_id: Id) -> None:
    """Search this registry again for the observed markings of an incoming request."""
    _act(traces.refresh_candidates, request_id)


@app.command("answer")
def answer(
    request_id: Id,
    weapon: Annotated[str | None, typer.Option(help="The candidate chosen (omit when none fits)")] = None,
    completeness: Annotated[str, typer.Option(help="full or partial")] = "full",
    text: Annotated[str, typer.Option(help="Free text for the requesting state")] = "",
) -> None:
    """Answer an incoming request with the chosen weapon's supply chain."""
    wid = parse_uuid(weapon, "weapon_id") if weapon else None
    _act(traces.answer, request_id, weapon_id=wid, completeness=completeness, text=text)


@app.command("delay")
def delay(
    request_id: Id,
    reason_code: Annotated[str, typer.Option(help="records_being_searched, awaiting_other_agency, …")],
    reason: Annotated[str, typer.Option()],
    expected_by: Annotated[str, typer.Option(help="YYYY-MM-DD")],
) -> None:
    """Delay the answer: the request stays open until answered, restricted or refused."""
    try:
        when = date.fromisoformat(expected_by)
    except ValueError:
        fail(L_("--expected-by must be YYYY-MM-DD"), Exit.INVALID, {"field": "expected_by"})
    _act(traces.delay, request_id, reason_code=reason_code, reason=reason, expected_by=when)


@app.command("restrict")
def restrict(
    request_id: Id,
    ground: Annotated[list[str], typer.Option(help="ITI 22 ground (repeatable)")],
    reason: Annotated[str, typer.Option()],
    weapon: Annotated[str | None, typer.Option(help="The weapon partly answered for")] = None,
) -> None:
    """Answer with information withheld on an ITI 22 ground, the reason told."""
    wid = parse_uuid(weapon, "weapon_id") if weapon else None
    _act(traces.restrict, request_id, grounds=ground, reason=reason, weapon_id=wid)


@app.command("refuse")
def refuse(
    request_id: Id,
    ground: Annotated[list[str], typer.Option(help="ITI 22 ground (repeatable)")] = [],  # noqa: B006
    reason: Annotated[str, typer.Option()] = "",
) -> None:
    """Refuse on an ITI 22 ground; the reason is required and told to the requesting state."""
    _act(traces.refuse, request_id, grounds=ground, reason=reason)


@app.command("close")
def close(
    request_id: Id,
    note: Annotated[str, typer.Option()] = "",
    established: Annotated[
        bool | None, typer.Option("--established/--not-established", help="Origin established?")
    ] = None,
) -> None:
    """Close an answered, restricted or refused request (or discard a draft)."""
    _act(traces.close, request_id, note=note, origin_established=established)


@app.command("notify-disclosure")
def notify_disclosure(
    request_id: Id,
    purpose: Purpose,
    recipient: Annotated[str, typer.Option(help="Who the information is disclosed to")],
    reason: Annotated[str, typer.Option(help="Why, as told to the providing state")],
) -> None:
    """Give the state that provided the information notice of its disclosure (a signed message)."""
    _act(disclosure.notify_disclosure, request_id, purpose=purpose, recipient=recipient, reason=reason)


@app.command("follow-up")
def follow_up(
    request_id: Id, to: Annotated[str | None, typer.Option("--to", help="Default: the next hop")] = None
) -> None:
    """A new draft to the next state on the weapon's path, prefilled from REQUEST_ID."""
    _act(traces.follow_up, request_id, requested_country=to)


@app.command("overdue")
def overdue() -> None:
    """Requests past their acknowledgement or answer deadline, in either direction."""
    with transaction() as session:
        traces.refresh_deliveries(session)
        rows = [
            {"id": o.request.id, "case_reference": o.request.case_reference, "direction": o.request.direction,
             "state": o.request.state, "what": o.what, "due": o.due, "days_late": o.days_late, "owed_by": o.owed_by}
            for o in traces.overdue(session)
        ]  # fmt: skip
    emit(
        rows,
        human=table(
            ngettext("%(num)d overdue", "%(num)d overdue", len(rows)),
            [_("id"), _("case"), _("direction"), _("state"), _("late"), _("due"), _("days"), _("owed by")],
            [
                [
                    r["id"],
                    r["case_reference"],
                    label(r["direction"]),
                    label(r["state"]),
                    label(r["what"]),
                    r["due"],
                    r["days_late"],
                    r["owed_by"],
                ]
                for r in rows
            ],
        ),
    )


@app.command("stats")
def stats(
    year: Annotated[int | None, typer.Option(help="Only this year")] = None,
    csv_out: Annotated[
        Path | None, typer.Option("--csv", help="Also write the figures to this CSV file")
    ] = None,
) -> None:
    """Requests sent, received, answered, delayed, refused; times to acknowledge and answer; SDG 16.4.2."""
    with transaction() as session:
        data = {
            "traces": trace_stats.trace_statistics(session, year=year),
            "sdg_16_4_2": trace_stats.sdg_16_4_2(session, year=year),
        }
    if csv_out is not None:
        with csv_out.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=trace_stats.CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(trace_stats.csv_rows(data["traces"]))
    t, sdg = data["traces"]["total"], data["sdg_16_4_2"]
    acknowledged = {k: "—" if v is None else v for k, v in t["days_to_acknowledge"].items()}
    answered = {k: "—" if v is None else v for k, v in t["days_to_answer"].items()}
    human = (
        _(
            "sent %(sent)s · received %(received)s · answered %(answered)s (full %(full)s) · "
            "delayed %(delayed)s · restricted %(restricted)s · refused %(refused)s",
            sent=t["sent"],
            received=t["received"],
            answered=t["answered"],
            full=t["answered_full"],
            delayed=t["delayed"],
            restricted=t["restricted"],
            refused=t["refused"],
        )
        + "\n"
        + _(
            "days to acknowledge: median %(median)s, p90 %(p90)s",
            median=acknowledged["median"],
            p90=acknowledged["p90"],
        )
        + "\n"
        + _(
            "days to answer: median %(median)s, p90 %(p90)s",
            median=answered["median"],
            p90=answered["p90"],
        )
        + "\n"
        + _(
            "SDG 16.4.2: %(established)s of %(denominator)s recovered weapons traced or established",
            established=sdg["established"],
            denominator=sdg["denominator"],
        )
        + (f" = {sdg['indicator']:.1%}" if sdg["indicator"] is not None else "")
    )
    emit(data, human=human)
