"""Charts officers would rather look at than read, as SVG text for the UI and the national report PDF:
traces sent and received per month, time to answer, weapons by status and by category, SDG 16.4.2 by year.

matplotlib's object API on the Agg/SVG canvas (no pyplot, no display, safe in a server). Text stays text in the
SVG (`svg.fonttype = none`), so the browser or WeasyPrint shapes it: Arabic joins and runs right to left,
Chinese uses the CJK font. The data behind each chart is a plain function, tested on its own.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from datetime import date
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from registry.errors import ValidationError
from registry.history.lifecycle import RECOVERY_EVENTS
from registry.weapons import repository as weapon_repo
from reports import repository as reports_repo
from reports.i18n import N_, Lang
from tracing.requests import repository as trace_repo
from tracing.requests import stats

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@cache
def _matplotlib() -> None:
    """Load and set up matplotlib on first drawing only: every `iti` command and the API import this module."""
    import matplotlib

    matplotlib.use("Agg")  # no display, ever
    matplotlib.rcParams.update(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "iti-registry",  # stable element ids: the same data gives the same SVG
            "font.family": ["DejaVu Sans", "Noto Sans CJK SC", "Noto Sans Arabic"],
            "font.size": 9,
            "axes.spines.top": False,
            "axes.spines.right": False,
        }
    )


BLUE, ORANGE, GREY = "#2b6cb0", "#dd6b20", "#718096"
# The SVG names its fonts with this stack, so whoever draws it picks a font for every script.
FONT_STACK = (
    "'Noto Sans', 'DejaVu Sans', 'Noto Sans CJK SC', 'Noto Naskh Arabic', 'Noto Sans Arabic', sans-serif"
)


class Chart(StrEnum):
    TRACES_PER_MONTH = "traces-per-month"
    TIME_TO_ANSWER = "time-to-answer"
    WEAPONS_BY_STATUS = "weapons-by-status"
    WEAPONS_BY_CATEGORY = "weapons-by-category"
    SDG_16_4_2 = "sdg-16-4-2"


TITLES = {
    Chart.TRACES_PER_MONTH: N_("Trace requests sent and received per month"),
    Chart.TIME_TO_ANSWER: N_("Days from receipt to answer"),
    Chart.WEAPONS_BY_STATUS: N_("Weapons by status"),
    Chart.WEAPONS_BY_CATEGORY: N_("Weapons by category"),
    Chart.SDG_16_4_2: N_("SDG indicator 16.4.2 by year"),
}


# --- data ---------------------------------------------------------------------------------------------------


def _months(since: date, until: date) -> list[str]:
    out, y, m = [], since.year, since.month
    while (y, m) <= (until.year, until.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def traces_per_month(
    session: Session, *, since: date | None = None, until: date | None = None
) -> dict[str, dict[str, int]]:
    """{"YYYY-MM": {"sent": n, "received": n}} from the first to the last month with a request (or the
    period given, inclusive), every month present so gaps show as zero."""
    sent: Counter[str] = Counter()
    received: Counter[str] = Counter()
    for req in trace_repo.all_requests(session):
        start = req.sent_at if req.direction == "outgoing" else req.delivered_at
        if start is None:
            continue
        day = start.date()
        if (since and day < since) or (until and day > until):
            continue
        (sent if req.direction == "outgoing" else received)[f"{day:%Y-%m}"] += 1
    keys = sorted(sent | received)
    if not keys and not (since and until):
        return {}
    first = since or date.fromisoformat(keys[0] + "-01")
    last = until or date.fromisoformat(keys[-1] + "-01")
    return {m: {"sent": sent[m], "received": received[m]} for m in _months(first, last)}


def answer_days(session: Session, *, since: date | None = None, until: date | None = None) -> list[float]:
    """Days from receipt (incoming) or sending (outgoing) to the answer, restriction or refusal."""
    out = []
    for req in trace_repo.all_requests(session):
        start = req.sent_at if req.direction == "outgoing" else req.delivered_at
        if start is None or req.answered_at is None:
            continue
        if (since and start.date() < since) or (until and start.date() > until):
            continue
        out.append(round((req.answered_at - start).total_seconds() / 86400, 3))
    return sorted(out)


def weapons_by_status(session: Session) -> dict[str, int]:
    return dict(sorted(weapon_repo.count_by_status(session).items(), key=lambda kv: (-kv[1], kv[0])))


def weapons_by_category(session: Session) -> dict[str, int]:
    return dict(sorted(reports_repo.count_by_category(session).items(), key=lambda kv: (-kv[1], kv[0])))


def sdg_by_year(session: Session, *, years: list[int] | None = None) -> dict[int, dict[str, Any]]:
    """SDG 16.4.2 for each year (every year with a recovery when not given), recomputed now."""
    if years is None:
        years = reports_repo.recovery_years(session, tuple(str(e) for e in RECOVERY_EVENTS))
    return {y: stats.sdg_16_4_2(session, year=y) for y in years}


# --- drawing ------------------------------------------------------------------------------------------------
#
# Browsers lay out SVG text with full bidi and shaping; WeasyPrint's SVG renderer draws it glyph by glyph,
# which reverses Arabic and breaks its joins. So the PDF keeps translated words out of its SVGs: counts are
# drawn as HTML bars (`bars`), legends and axis names are HTML, and only numbers and dates stay in the SVG.

TRACE_COLOURS = {"sent": BLUE, "received": ORANGE}


def bars(data: dict[str, int], names: Callable[[str], str]) -> list[tuple[str, int, float]]:
    """(label, value, share of the largest) for an HTML bar chart: text shaped like the rest of the page."""
    top = max(data.values(), default=0) or 1
    return [(names(k), v, round(100 * v / top, 1)) for k, v in data.items()]


def _figure(width: float = 7.0, height: float = 3.0) -> tuple[Figure, Any]:
    _matplotlib()
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.add_subplot()


def _svg(fig: Figure) -> str:
    from matplotlib.backends.backend_svg import FigureCanvasSVG

    buf = io.StringIO()
    FigureCanvasSVG(fig).print_svg(buf, metadata={"Date": None, "Creator": "iti-registry"})
    text = buf.getvalue()
    # Keep the XML prolog out (the SVG goes inline into HTML) and give every text the full font stack.
    text = text[text.index("<svg") :]
    # Left to right as matplotlib laid it out, even inside a right-to-left page (text-anchor follows the
    # direction); Arabic words inside still run right to left, shaped by the browser.
    style = f"font-family: {FONT_STACK}; direction: ltr; unicode-bidi: isolate"
    return text.replace("<svg ", f'<svg direction="ltr" style="{style}" ', 1)


def _empty(ax: Any, lang: Lang) -> None:
    ax.text(0.5, 0.5, lang.gettext("No data for this period"), ha="center", va="center", color=GREY)
    ax.set_axis_off()


def _bars(ax: Any, labels: list[str], values: list[int], lang: Lang, color: str = BLUE) -> None:
    # Horizontal bars: long translated labels read on their own line, in any script.
    positions = list(range(len(labels)))[::-1]
    bars = ax.barh(positions, values, color=color)
    ax.set_yticks(positions, labels)
    ax.bar_label(bars, labels=[lang.number(v) for v in values], padding=2, fontsize=8)
    ax.set_xlim(0, max(values) * 1.15 if values else 1)
    ax.xaxis.set_visible(False)


def draw_traces_per_month(data: dict[str, dict[str, int]], lang: Lang, *, legend: bool = True) -> str:
    """Bars per month; `legend=False` leaves the legend to the page (the PDF, see `HTML_LEGEND`)."""
    fig, ax = _figure()
    if not any(v["sent"] or v["received"] for v in data.values()):
        _empty(ax, lang)
        return _svg(fig)
    months = list(data)
    x = list(range(len(months)))
    ax.bar(
        [i - 0.2 for i in x], [data[m]["sent"] for m in months], 0.4, label=lang.gettext("sent"), color=BLUE
    )
    ax.bar(
        [i + 0.2 for i in x], [data[m]["received"] for m in months], 0.4, label=lang.gettext("received"),
        color=ORANGE,
    )  # fmt: skip
    step = max(1, len(months) // 12)
    ax.set_xticks(x[::step], months[::step], rotation=45, ha="right", fontsize=7)
    ax.yaxis.get_major_locator().set_params(integer=True)
    if legend:
        ax.legend(frameon=False)
    return _svg(fig)


def draw_time_to_answer(days: list[float], lang: Lang) -> str:
    fig, ax = _figure()
    if not days:
        _empty(ax, lang)
        return _svg(fig)
    edges = [0, 7, 14, 30, 60, 90, 180, 365]
    labels = ["0–7", "7–14", "14–30", "30–60", "60–90", "90–180", "180–365", "365+"]
    counts = [0] * len(labels)
    for d in days:
        counts[next((i for i, e in enumerate(edges[1:]) if d < e), len(edges) - 1)] += 1
    bars = ax.bar(labels, counts, color=BLUE)
    ax.bar_label(bars, labels=[lang.number(c) if c else "" for c in counts], fontsize=8)
    ax.yaxis.get_major_locator().set_params(integer=True)
    return _svg(fig)


def draw_counts(data: dict[str, int], lang: Lang, names: Callable[[str], str]) -> str:
    fig, ax = _figure(7.0, max(1.6, 0.32 * len(data) + 0.6))
    if not data:
        _empty(ax, lang)
        return _svg(fig)
    _bars(ax, [names(k) for k in data], list(data.values()), lang)
    return _svg(fig)


def draw_sdg(data: dict[int, dict[str, Any]], lang: Lang) -> str:
    fig, ax = _figure()
    points = [(y, v["indicator"]) for y, v in data.items() if v["indicator"] is not None]
    if not points:
        _empty(ax, lang)
        return _svg(fig)
    years = [str(y) for y, _ in points]
    values = [v * 100 for _, v in points]
    bars = ax.bar(years, values, color=BLUE)
    ax.bar_label(bars, labels=[lang.percent(v / 100) for v in values], fontsize=8)
    ax.set_ylim(0, 110)
    ax.set_ylabel("%")
    return _svg(fig)


def chart_svg(session: Session, name: Chart | str, *, lang: str = "en", since: date | None = None,
              until: date | None = None) -> str:  # fmt: skip
    """The SVG of one chart by name, labels in `lang`; the period, when given, is checked as a report's is."""
    language = Lang.of(lang)
    chart = Chart(name)
    if (since is None) != (until is None):
        raise ValidationError(
            "give both ends of the period (from and to), or neither", field="from" if since is None else "to"
        )
    if since is not None and until is not None:
        from reports.national import check_period  # national draws charts: imported here, not at the top

        check_period(since, until)
    if chart is Chart.TRACES_PER_MONTH:
        return draw_traces_per_month(traces_per_month(session, since=since, until=until), language)
    if chart is Chart.TIME_TO_ANSWER:
        return draw_time_to_answer(answer_days(session, since=since, until=until), language)
    if chart is Chart.WEAPONS_BY_STATUS:
        return draw_counts(weapons_by_status(session), language, language.label)
    if chart is Chart.WEAPONS_BY_CATEGORY:
        names = reports_repo.category_names(session)
        return draw_counts(
            weapons_by_category(session), language, lambda c: language.gettext(names.get(c, c))
        )
    years = list(range(since.year, until.year + 1)) if since and until else None
    return draw_sdg(sdg_by_year(session, years=years), language)
