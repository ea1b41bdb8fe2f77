"""The ITI sections of the national report for a period: marking, record-keeping, cooperation in tracing, with
the quantitative tracing data and SDG indicator 16.4.2, laid out after the questions of the UNODA national
report template that could be found (docs/reports.md: which edition each question comes from, and the
figures under it).

`national_figures` computes every number once, as plain data: the PDF, the CSV/XLSX export and the tests read
the same figures. Trace figures count requests sent (ours) or received (theirs) within the period, with the
statistics' own definitions (`tracing.requests.stats`). SDG 16.4.2 is an annual indicator: it is given for
each calendar year the period touches (a year partly inside the period is given whole, and says so), and the
period's total adds numerators and denominators, never ratios (REQ-39).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.orm import Session

from registry.codes import EventType, MarkingKind
from registry.config import get_settings
from registry.errors import ValidationError
from registry.profiles import get_profile
from reports import charts, pdf
from reports import repository as reports_repo
from reports.i18n import N_, Lang
from tracing.federation import repository as federation_repo
from tracing.requests import repository as trace_repo
from tracing.requests import stats
from tracing.requests.models import TraceTransition

MAX_DAYS = 366 * 10 + 3  # ten years: a longer "period" is a typing mistake, not a report

# ITI 8: which mark answers which question of the marking section.
MARK_ROWS = (
    (MarkingKind.MANUFACTURE, N_("at manufacture (ITI 8(a))")),
    (MarkingKind.IMPORT, N_("on import (ITI 8(b))")),
    (MarkingKind.STATE_TRANSFER, N_("on transfer from State stocks to civilian use (ITI 8(c))")),
    (MarkingKind.OWNERSHIP, N_("of weapons of the armed and security forces (ITI 8(d))")),
    (MarkingKind.REMARKING, N_("of found or seized weapons given a unique mark (ITI 9)")),
    (MarkingKind.DEACTIVATION, N_("on deactivation")),
)
# Question 3.2.1 of the template: the elements a manufacture mark may record, as the template lists them.
MARK_ELEMENTS = (
    ("manufacturer", N_("Name of the manufacturer")),
    ("country", N_("Country of manufacture")),
    ("serial", N_("Serial number")),
    ("year", N_("Year of manufacture")),
)
# Where each question comes from: the template editions found (docs/reports.md), or the ITI itself.
SOURCES = {
    "manufacture": N_("UNODA template, 2016 and 2018 editions — section 2, Manufacture"),
    "transfers": N_("UNODA template, 2016 and 2018 editions — section 3, International transfers"),
    "records": N_("UNODA template, 2016 edition — section 7, Record-keeping"),
    "tracing": N_("UNODA template, 2010 edition — section 8, International tracing"),
    "own": N_("International Tracing Instrument — figures for which no template question was found"),
}
EVENT_ROWS = (
    EventType.MANUFACTURED,
    EventType.IMPORTED,
    EventType.EXPORTED,
    EventType.TRANSFERRED,
    EventType.LOST,
    EventType.STOLEN,
    EventType.FOUND,
    EventType.SEIZED,
    EventType.SURRENDERED,
    EventType.DEACTIVATED,
    EventType.DESTROYED,
    EventType.RECORD_CUSTODY_TRANSFERRED,
)


@dataclass
class Period:
    since: date  # first day, inclusive
    until: date  # last day, inclusive

    @property
    def start(self) -> datetime:
        return datetime.combine(self.since, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The instant after the last day (exclusive bound for queries)."""
        return datetime.combine(self.until + timedelta(days=1), time.min, tzinfo=UTC)

    @property
    def years(self) -> list[int]:
        return list(range(self.since.year, self.until.year + 1))

    @property
    def whole_years(self) -> bool:
        return (self.since.month, self.since.day, self.until.month, self.until.day) == (1, 1, 12, 31)


# Labels of a period's two ends, for forms that ask for one (the UI's reports page).
PERIOD_LABELS = (N_("First day of the period"), N_("Last day of the period"))
FIRST_YEAR, LAST_YEAR = 1900, 2200  # the registry's dates lie within these; anything else is a typo


def check_period(since: date, until: date) -> Period:
    for name, day in (("from", since), ("to", until)):
        if not FIRST_YEAR <= day.year <= LAST_YEAR:
            raise ValidationError(
                f"a report period lies between {FIRST_YEAR} and {LAST_YEAR}",
                field=name,
                value=day.isoformat(),
            )
    if until < since:
        raise ValidationError("the period ends before it starts", field="to", value=until.isoformat())
    if (until - since).days > MAX_DAYS:
        raise ValidationError("a report covers at most ten years", field="to", value=until.isoformat())
    return Period(since, until)


@dataclass
class NationalFigures:
    period: Period
    country: str | None
    marks_by_kind: dict[str, int]
    marks_by_condition: dict[str, int]
    pending_marking: int
    weapons_on_record: int
    weapons_registered: int
    events_by_type: dict[str, int]
    weapons_by_status: dict[str, int]
    weapons_by_category: dict[str, int]
    traces: dict[str, Any]
    per_partner: dict[str, dict[str, Any]]
    sdg_by_year: dict[int, dict[str, Any]]
    sdg_total: dict[str, Any] = field(default_factory=dict)
    # Template questions 3.2.1/3.2.2 and 5.10.2: what the period's manufacture and import marks record.
    manufacture_marks: dict[str, int] = field(default_factory=dict)
    manufacture_components: dict[str, int] = field(default_factory=dict)
    import_marks: dict[str, int] = field(default_factory=dict)
    # Questions 3.3.2, 5.11.2, 16.2: the minimum retention the node's jurisdiction profile enforces (years).
    retention: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> list[tuple[str, str, Any]]:
        """(section, item, value) for the CSV/XLSX export of the same figures."""
        out: list[tuple[str, str, Any]] = [
            ("period", "from", self.period.since.isoformat()),
            ("period", "to", self.period.until.isoformat()),
            ("period", "country", self.country or ""),
        ]
        out += [("marking", f"marks_applied.{k}", v) for k, v in sorted(self.marks_by_kind.items())]
        out += [
            ("marking", f"marks_recorded_by_condition.{k}", v)
            for k, v in sorted(self.marks_by_condition.items())
        ]
        out.append(("marking", "pending_marking_now", self.pending_marking))
        out += [("marking", f"manufacture_marks.{k}", v) for k, v in self.manufacture_marks.items()]
        out += [("marking", f"manufacture_marks_on.{k}", v) for k, v in self.manufacture_components.items()]
        out += [("marking", f"import_marks.{k}", v) for k, v in self.import_marks.items()]
        out += [("record_keeping", f"retention.{k}", v) for k, v in self.retention.items()]
        out += [
            ("record_keeping", "weapons_on_record_at_end", self.weapons_on_record),
            ("record_keeping", "weapons_registered_in_period", self.weapons_registered),
        ]
        out += [("record_keeping", f"events.{k}", v) for k, v in sorted(self.events_by_type.items())]
        out += [("record_keeping", f"status_now.{k}", v) for k, v in self.weapons_by_status.items()]
        out += [("record_keeping", f"category_now.{k}", v) for k, v in self.weapons_by_category.items()]
        out += flatten("tracing", self.traces)
        for partner, figures in self.per_partner.items():
            out += flatten(f"tracing.{partner}", figures)
        for year, figures in self.sdg_by_year.items():
            out += flatten(f"sdg_16_4_2.{year}", figures)
        out += flatten("sdg_16_4_2.period", self.sdg_total)
        return out


def flatten(section: str, data: dict[str, Any], prefix: str = "") -> list[tuple[str, str, Any]]:
    out: list[tuple[str, str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += flatten(section, value, prefix=f"{name}.")
        else:
            out.append((section, name, value))
    return out


def period_trace_statistics(session: Session, period: Period) -> tuple[dict[str, Any], dict[str, Any]]:
    """Trace figures of requests sent or received within the period: the total and per partner state."""
    steps: dict[Any, list[TraceTransition]] = defaultdict(list)
    for t in trace_repo.all_transitions(session):
        steps[t.request_id].append(t)
    total, per_partner = stats.Bucket(), defaultdict(stats.Bucket)
    for req in trace_repo.all_requests(session):
        start = req.sent_at if req.direction == "outgoing" else req.delivered_at
        if start is None or not (period.start <= start < period.end):
            continue
        partner = req.requested_country if req.direction == "outgoing" else req.requesting_country
        for bucket in (total, per_partner[partner]):
            # The statistics' own counting rule (a private helper of tracing.requests.stats, used here on
            # purpose), so this report and `iti trace stats` can never disagree on what counts.
            stats._add(bucket, req, steps[req.id])
    return total.as_dict(), {k: v.as_dict() for k, v in sorted(per_partner.items())}


def sdg_total(by_year: dict[int, dict[str, Any]]) -> dict[str, Any]:
    keys = ("seized", "found", "surrendered", "established", "denominator")
    out: dict[str, Any] = {k: sum(v[k] for v in by_year.values()) for k in keys}
    out["indicator"] = round(out["established"] / out["denominator"], 4) if out["denominator"] else None
    return out


def national_figures(session: Session, *, since: date, until: date) -> NationalFigures:
    period = check_period(since, until)
    node = federation_repo.get_node(session)
    traces, per_partner = period_trace_statistics(session, period)
    by_year = charts.sdg_by_year(session, years=period.years)
    days = {"since": period.since, "until": period.until + timedelta(days=1)}
    profile = get_profile(get_settings().profile)
    return NationalFigures(
        period=period,
        country=node.country if node is not None else _home_country(),
        marks_by_kind=reports_repo.marks_by_kind(session, **days),
        marks_by_condition=reports_repo.marks_by_condition(session, since=period.start, until=period.end),
        pending_marking=reports_repo.pending_marking(session),
        weapons_on_record=reports_repo.weapons_registered(session, since=None, until=period.end),
        weapons_registered=reports_repo.weapons_registered(session, since=period.start, until=period.end),
        events_by_type=reports_repo.events_by_type(session, since=period.start, until=period.end),
        weapons_by_status=charts.weapons_by_status(session),
        weapons_by_category=charts.weapons_by_category(session),
        traces=traces,
        per_partner=per_partner,
        sdg_by_year=by_year,
        sdg_total=sdg_total(by_year),
        manufacture_marks=reports_repo.mark_contents(session, kind=MarkingKind.MANUFACTURE, **days),
        manufacture_components=reports_repo.marks_by_component(session, kind=MarkingKind.MANUFACTURE, **days),
        import_marks=reports_repo.mark_contents(session, kind=MarkingKind.IMPORT, **days),
        retention={
            "profile": profile.name,
            "manufacture_years": profile.retention_manufacture_years,
            "other_years": profile.retention_other_years,
            "after_destruction_years": profile.retention_after_destruction_years,
        },
    )


def _home_country() -> str | None:
    return get_settings().node_country


def national_report_pdf(session: Session, *, since: date, until: date, lang: str = "en") -> bytes:
    language = Lang.of(lang)
    figures = national_figures(session, since=since, until=until)
    period = figures.period
    node = federation_repo.get_node(session)
    names = reports_repo.category_names(session)
    months = charts.traces_per_month(session, since=period.since, until=period.until)
    days = charts.answer_days(session, since=period.since, until=period.until)
    has_sdg = any(v["indicator"] is not None for v in figures.sdg_by_year.values())
    svg = {  # numbers and dates only: see the note on drawing in reports/charts.py
        "traces": (
            charts.draw_traces_per_month(months, language, legend=False)
            if any(v["sent"] or v["received"] for v in months.values())
            else None
        ),
        "answer": charts.draw_time_to_answer(days, language) if days else None,
        "sdg": charts.draw_sdg(figures.sdg_by_year, language) if has_sdg else None,
    }
    html_bars = {
        "status": charts.bars(figures.weapons_by_status, language.label),
        "category": charts.bars(figures.weapons_by_category, lambda c: language.gettext(names.get(c, c))),
    }
    ctx = {
        "f": figures,
        "poc": node,
        "mark_elements": [(key, language.gettext(text)) for key, text in MARK_ELEMENTS],
        "other_mark_rows": [(k.value, language.gettext(text)) for k, text in MARK_ROWS[2:]],
        "S": {key: language.gettext(text) for key, text in SOURCES.items()},
        "event_rows": [e.value for e in EVENT_ROWS],
        "category_name": lambda c: language.gettext(names[c]) if c in names else c,
        "charts": svg,
        "bars": html_bars,
        "trace_colours": charts.TRACE_COLOURS,
        "no_data": language.gettext("No data for this period"),
        "chart_titles": {
            "traces": language.gettext(charts.TITLES[charts.Chart.TRACES_PER_MONTH]),
            "answer": language.gettext(charts.TITLES[charts.Chart.TIME_TO_ANSWER]),
            "status": language.gettext(charts.TITLES[charts.Chart.WEAPONS_BY_STATUS]),
            "category": language.gettext(charts.TITLES[charts.Chart.WEAPONS_BY_CATEGORY]),
            "sdg": language.gettext(charts.TITLES[charts.Chart.SDG_16_4_2]),
        },
    }
    title = language.gettext(
        "National report on the International Tracing Instrument, %(since)s – %(until)s",
        since=language.date(period.since),
        until=language.date(period.until),
    )
    return pdf.render("national_report.html", ctx, language, title=title)
