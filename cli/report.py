"""`iti report …`: the documents officers file, as PDF files (docs/reports.md).

iti report national --from 2024-01-01 --to 2025-12-31 --lang fr --out report.pdf
iti report sheet WEAPON_ID --out sheet.pdf [--url https://registry.example/ui/weapons/ID]
iti report trace-answer TRACE_ID --out answer.pdf        (a view of the request: audited)
iti report chart sdg-16-4-2 --out sdg.svg
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from cli.common import actor, emit, parse_uuid, transaction
from cli.i18n import N_, _, number
from reports import charts
from reports.i18n import DEFAULT, LANGUAGES
from reports.national import national_report_pdf
from reports.trace_answer import trace_answer_pdf
from reports.weapon_sheet import weapon_sheet_pdf

app = typer.Typer(
    help="Documents as PDF: national report, record sheet, trace answer; charts as SVG.", no_args_is_help=True
)

Out = Annotated[Path, typer.Option("--out", help="File to write", dir_okay=False, writable=True)]
Lang = Annotated[str, typer.Option("--lang", help="Language: " + ", ".join(LANGUAGES), show_default=True)]


def _day(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(
            _("%(value)r is not a date (YYYY-MM-DD)", value=value), param_hint=name
        ) from exc


def _write(out: Path, data: bytes, what: str, name: str = "") -> None:
    """`what` is English (the JSON `document` value, marked with N_), translated for the terminal."""
    out.write_bytes(data)
    document = f"{what} {name}".strip()
    emit(
        {"written": str(out), "bytes": len(data), "document": document},
        human=_(
            "%(document)s: %(path)s (%(bytes)s bytes)",
            document=f"{_(what)} {name}".strip(),
            path=out,
            bytes=number(len(data)),
        ),
    )


@app.command("national")
def national(
    since: Annotated[str, typer.Option("--from", help="First day of the period (YYYY-MM-DD)")],
    until: Annotated[str, typer.Option("--to", help="Last day of the period, inclusive (YYYY-MM-DD)")],
    out: Out,
    lang: Lang = DEFAULT,
) -> None:
    """The ITI sections of the national report: marking, record-keeping, tracing, SDG 16.4.2."""
    start, end = _day(since, "--from"), _day(until, "--to")
    with transaction() as session:
        data = national_report_pdf(session, since=start, until=end, lang=lang)
    _write(out, data, N_("national report"))


@app.command("sheet")
def sheet(
    weapon_id: Annotated[str, typer.Argument(help="The weapon's id")],
    out: Out,
    lang: Lang = DEFAULT,
    url: Annotated[
        str | None, typer.Option("--url", help="Address of the record, printed as a QR code")
    ] = None,
) -> None:
    """A weapon's record sheet with its marks, history and the Data Matrix of its unique mark."""
    with transaction() as session:
        data = weapon_sheet_pdf(
            session, weapon_id=parse_uuid(weapon_id, "weapon_id"), lang=lang, record_url=url
        )
    _write(out, data, N_("record sheet"))


@app.command("trace-answer")
def trace_answer(
    trace_id: Annotated[str, typer.Argument(help="The trace request's id")],
    out: Out,
    purpose: Annotated[
        str,
        typer.Option(help="What the information is used for: an intended-use code (REQ-32, docs/tracing.md)"),
    ],
    recipient: Annotated[str | None, typer.Option(help="Who the information is disclosed to")] = None,
    lang: Lang = DEFAULT,
) -> None:
    """The formal answer to a trace request (or its delay, restriction or refusal); the view is audited."""
    with transaction() as session:
        data = trace_answer_pdf(
            session,
            request_id=parse_uuid(trace_id, "trace_id"),
            actor=actor(),
            purpose=purpose,
            recipient=recipient,
            lang=lang,
        )
    _write(out, data, N_("trace answer"))


@app.command("chart")
def chart(
    name: Annotated[charts.Chart, typer.Argument(help="Which chart")],
    out: Out,
    lang: Lang = DEFAULT,
    since: Annotated[str | None, typer.Option("--from", help="First day (YYYY-MM-DD)")] = None,
    until: Annotated[str | None, typer.Option("--to", help="Last day (YYYY-MM-DD)")] = None,
) -> None:
    """One chart as an SVG file."""
    start = _day(since, "--from") if since else None
    end = _day(until, "--to") if until else None
    with transaction() as session:
        svg = charts.chart_svg(session, name, lang=lang, since=start, until=end)
    _write(out, svg.encode(), N_("chart"), name.value)
