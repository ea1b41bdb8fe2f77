"""`iti station`: the marking station — mark, preview, count an armoury, reserve serials, and run offline
(checkout on the national registry, init on the station, export/sync events back, resolve conflicts).

`iti station mark|preview|code|stocktake` are the `iti mark run|preview|code|stocktake` commands themselves
(one implementation, two names: `iti mark …` is kept for scripts written against it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
import typer

from cli import mark
from cli.common import Exit, actor, emit, engine, fail, parse_uuid, profile, settings, table, transaction
from cli.i18n import L_, _, label, ngettext

app = typer.Typer(
    help="Marking station: mark and verify, preview, stocktake, reserve serials, offline campaigns.",
    no_args_is_help=True,
)
app.command("mark")(mark.run_command)
app.command("preview")(mark.preview_command)
app.command("code")(mark.code_command)
app.command("stocktake")(mark.stocktake_command)

SYNC_BATCH = 500  # events per request: well under the API's limit, small enough to retry cheaply


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        fail(L_("cannot read %(path)s: %(error)s", path=path, error=exc), Exit.INVALID, {"field": what})
    if not isinstance(doc, dict):
        fail(
            L_("%(path)s is not the expected JSON document (%(what)s)", path=path, what=what),
            Exit.INVALID,
            {"field": what},
        )
    return doc


# --- serials ----------------------------------------------------------------------------------------------


@app.command("reserve-serial")
def reserve_serial_command(
    country: Annotated[
        str | None, typer.Option(help="Country of marking (default: the node's country)")
    ] = None,
    year: Annotated[int | None, typer.Option(help="Year in the serial (default: this year)")] = None,
    prefix: Annotated[str, typer.Option(help="A station or maker prefix: up to 12 letters/digits")] = "",
    purpose: Annotated[str, typer.Option(help="manufacture | import | remarking")] = "manufacture",
    station: Annotated[str, typer.Option(help="The station the serial is issued to")] = "",
) -> None:
    """Reserve the next serial (`<prefix><country><year>-NNNNN`) for a weapon that has none; never reissued."""
    from hardware.stations import serials

    cc = country or settings().node_country
    if not cc:
        fail(
            L_("this node has no country (ITI_NODE_COUNTRY); give --country"),
            Exit.USAGE,
            {"field": "country"},
        )
    with transaction(writes=True) as session:
        scope = serials.scope_for(country=cc, year=year, prefix=prefix)
        got = serials.reserve(
            session, scope=scope, actor=actor(), purpose=purpose, station=station or None, profile=profile()
        )
    emit(
        {"serial": got.serial, "scope": got.scope, "seq": got.seq, "id": str(got.reservation.id)},
        human=_("reserved serial [bold]%(serial)s[/] (%(purpose)s)", serial=got.serial, purpose=purpose),
    )


# --- stocktake records ------------------------------------------------------------------------------------


@app.command("stocktakes")
def stocktakes_command(
    location: Annotated[str | None, typer.Option(help="Only this storage site")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Saved stocktakes, newest first."""
    from hardware.stations import repository

    with transaction() as session:
        found = repository.list_stocktakes(session, location=location, limit=limit)
        rows = [
            [str(s.id), s.counted_at.strftime("%Y-%m-%d %H:%M"), s.location, s.counted_by, s.expected, s.found,
             s.missing, s.elsewhere, s.unknown]
            for s in found
        ]  # fmt: skip
    cols = ["id", "counted", "location", "by", "expected", "found", "missing", "elsewhere", "unknown"]
    headers = [_("id"), _("counted"), _("location"), _("by"), _("expected"), _("found"), _("missing")]
    headers += [_("elsewhere"), _("unknown")]
    emit([dict(zip(cols, r, strict=True)) for r in rows], human=table(_("stocktakes"), headers, rows))


@app.command("stocktake-export")
def stocktake_export_command(
    stocktake_id: Annotated[str, typer.Argument(help="The stocktake's id")],
    out: Annotated[Path, typer.Option("--out", help="CSV file to write")],
) -> None:
    """Write a saved stocktake as CSV: a header with the site, officer and totals, then one row per line."""
    from hardware.stations import records

    sid = parse_uuid(stocktake_id, "stocktake_id")
    with transaction() as session:
        rec = records.get(session, sid)
        out.write_text(records.to_csv(rec), encoding="utf-8", newline="")
        lines = len(rec.lines)
    emit(
        {"file": str(out), "lines": lines},
        human=ngettext("%(path)s: %(num)d line", "%(path)s: %(num)d lines", lines, path=out),
    )


# --- offline stations -------------------------------------------------------------------------------------


@app.command("checkout")
def checkout_command(
    location: Annotated[str, typer.Option(help="The storage site whose weapons the station takes")],
    station: Annotated[str, typer.Option(help="The station's name (it signs its events with it)")],
    out: Annotated[Path, typer.Option("--out", help="Bundle file to write, e.g. station.bundle")],
) -> None:
    """Central registry: hand the weapons held at LOCATION to an offline station (writes the bundle)."""
    from hardware.stations import offline

    with transaction(writes=True) as session:
        bundle = offline.checkout(session, station=station, location=location, actor=actor())
    data = offline.dumps(bundle)
    out.write_bytes(data)
    co = bundle["checkout"]
    emit(
        {
            "checkout_id": str(co["id"]),
            "weapons": co["weapons"],
            "file": str(out),
            "sha256": offline.digest(data),
        },
        human=ngettext(
            "%(path)s: %(num)d weapon checked out to %(station)s (checkout %(id)s)",
            "%(path)s: %(num)d weapons checked out to %(station)s (checkout %(id)s)",
            co["weapons"],
            path=out,
            station=station,
            id=co["id"],
        ),
    )


@app.command("init")
def init_command(
    bundle: Annotated[Path, typer.Option(help="The bundle written by `iti station checkout`")],
) -> None:
    """On the station: create its own database (ITI_DATABASE_URL) and load the checked-out weapons."""
    from registry import migrate
    from registry.reference.service import seed_reference_data

    doc = _read_json(bundle, "bundle")
    from hardware.stations import offline

    if not migrate.is_at_head(engine()):
        migrate.upgrade(settings().database_url)
        with transaction(writes=True) as session:
            seed_reference_data(session, actor=actor())
    with transaction(writes=True) as session:
        loaded = offline.load_bundle(session, bundle=doc, actor=actor())
        co_id, name, n = loaded.checkout.id, loaded.checkout.station, loaded.checkout.weapons
    emit(
        {"checkout_id": str(co_id), "station": name, "weapons": n, "rows": loaded.rows},
        human=ngettext(
            "station %(name)s ready offline with %(num)d weapon (checkout %(id)s)",
            "station %(name)s ready offline with %(num)d weapons (checkout %(id)s)",
            n,
            name=name,
            id=co_id,
        ),
    )


@app.command("status")
def status_command() -> None:
    """On the station: its checkout, and how many events wait to be synchronised."""
    from hardware.stations import offline, repository

    with transaction() as session:
        co = offline.station_checkout(session)
        pending = len(offline.pending_events(session)["events"])
        answered = repository.sync_events(session, checkout_id=co.id)
        by = {s: sum(1 for a in answered if a.status == s) for s in ("applied", "conflict", "rejected")}
        data = {"checkout_id": str(co.id), "station": co.station, "location": co.location,
                "weapons": co.weapons, "pending": pending, **by}  # fmt: skip
    emit(data, human="\n".join(f"{k}: {v}" for k, v in data.items()))


@app.command("export-events")
def export_events_command(
    out: Annotated[Path, typer.Option("--out", help="File to carry to the registry")],
) -> None:
    """On the station: write every event not yet answered by the registry (for `iti station import-events`)."""
    from hardware.stations import offline

    with transaction() as session:
        batch = offline.pending_events(session)
    out.write_bytes(offline.dumps(batch))
    emit(
        {"file": str(out), "events": len(batch["events"])},
        human=ngettext("%(path)s: %(num)d event", "%(path)s: %(num)d events", len(batch["events"]), path=out),
    )


@app.command("import-events")
def import_events_command(
    source: Annotated[Path, typer.Argument(help="A file written by `iti station export-events`")],
    answers_out: Annotated[
        Path | None, typer.Option(help="Write the registry's answers, for `iti station import-answers`")
    ] = None,
) -> None:
    """Central registry: record a station's offline events once each; conflicts wait for an officer."""
    from hardware.stations import offline

    batch = _read_json(source, "events")
    with transaction(writes=True) as session:
        got = offline.receive(
            session, batch=batch, actor=actor(), profile=profile(), home_country=settings().node_country
        )
    answers = [a.as_dict() for a in got.answers]
    if answers_out is not None:
        answers_out.write_bytes(orjson.dumps({"answers": answers}))
    _report_sync(answers)


@app.command("import-answers")
def import_answers_command(
    source: Annotated[Path, typer.Argument(help="The answers file written by `import-events --answers-out`")],
) -> None:
    """On the station: keep the registry's answers, so later exports and syncs leave those events out."""
    from hardware.stations import offline

    doc = _read_json(source, "answers")
    with transaction(writes=True) as session:
        n = offline.remember_answers(session, answers=doc.get("answers") or [], actor=actor())
    emit({"remembered": n}, human=ngettext("%(num)d answer kept", "%(num)d answers kept", n))


@app.command("sync")
def sync_command(
    to: Annotated[
        str, typer.Option("--to", help="The national registry's URL, e.g. https://registry.example")
    ],
    api_key: Annotated[str, typer.Option(envvar="ITI_API_KEY", help="A marking-operator API key")],
    timeout: Annotated[float, typer.Option(help="Seconds per request")] = 60.0,
) -> None:
    """On the station: upload the events not yet answered, keep the answers. Safe to re-run: an event the
    registry already has is answered from its record and never recorded twice."""
    import httpx

    from hardware.stations import offline

    with transaction() as session:
        batch = offline.pending_events(session)
    answers: list[dict[str, Any]] = []
    url = to.rstrip("/") + "/api/v1/stations/offline-events"
    events = batch["events"]
    try:
        with httpx.Client(timeout=timeout, headers={"X-API-Key": api_key}) as http:
            for start in range(0, len(events), SYNC_BATCH):
                body = {**batch, "events": events[start : start + SYNC_BATCH]}
                resp = http.post(
                    url, content=offline.dumps(body), headers={"Content-Type": "application/json"}
                )
                if resp.status_code != 200:
                    _remember(answers)
                    fail(L_("the registry refused the upload (%(status)s): %(body)s", status=resp.status_code,
                            body=resp.text[:500]), Exit.CHECK_FAILED, {"sent": start})  # fmt: skip
                answers += resp.json()["answers"]
    except httpx.HTTPError as exc:
        _remember(answers)
        fail(
            L_("cannot reach %(url)s: %(error)s", url=to, error=exc),
            Exit.CHECK_FAILED,
            {"answered": len(answers)},
        )
    _remember(answers)
    _report_sync(answers)


def _remember(answers: list[dict[str, Any]]) -> None:
    from hardware.stations import offline

    if answers:
        with transaction(writes=True) as session:
            offline.remember_answers(session, answers=answers, actor=actor())


def _report_sync(answers: list[dict[str, Any]]) -> None:
    new = [a for a in answers if not a["duplicate"]]
    counts = {s: sum(1 for a in new if a["status"] == s) for s in ("applied", "conflict", "rejected")}
    data = {**counts, "duplicates": len(answers) - len(new), "answers": answers}
    human = [
        _(
            "sent %(sent)s: applied %(applied)s, conflicts %(conflicts)s, rejected %(rejected)s, "
            "already received %(duplicates)s",
            sent=len(answers),
            applied=counts["applied"],
            conflicts=counts["conflict"],
            rejected=counts["rejected"],
            duplicates=len(answers) - len(new),
        )
    ]
    human += [
        "  "
        + _(
            "%(status)s: weapon %(weapon)s: %(reason)s",
            status=label(a["status"]),
            weapon=a["weapon_id"],
            reason=a["reason"],
        )
        for a in new
        if a["status"] != "applied"
    ]
    emit(data, human="\n".join(human))


@app.command("conflicts")
def conflicts_command(
    all_: Annotated[
        bool, typer.Option("--all", help="Every received station event, not only conflicts")
    ] = False,
) -> None:
    """Central registry: offline events waiting for an officer (the weapon changed centrally meanwhile)."""
    from hardware.stations import repository

    with transaction() as session:
        found = repository.sync_events(session, status=None if all_ else "conflict")
        rows = [[str(r.id), r.station, str(r.weapon_id), r.event_type, r.offline_at.strftime("%Y-%m-%d %H:%M"),
                 r.status, r.reason] for r in found]  # fmt: skip
    cols = ["id", "station", "weapon", "event", "offline at", "status", "reason"]
    headers = [_("id"), _("station"), _("weapon"), _("event"), _("offline at"), _("status"), _("reason")]
    shown = [[*r[:3], label(r[3]), r[4], label(r[5]), r[6]] for r in rows]  # event type and status as words
    emit([dict(zip(cols, r, strict=True)) for r in rows], human=table(_("station events"), headers, shown))


@app.command("resolve")
def resolve_command(
    sync_id: Annotated[str, typer.Argument(help="The id from `iti station conflicts`")],
    reason: Annotated[str, typer.Option(help="Why (kept with the decision and in the audit log)")],
    apply: Annotated[
        bool, typer.Option("--apply/--reject", help="Record the station's event after review, or reject it")
    ] = False,
) -> None:
    """Central registry: an officer decides a conflicting offline event."""
    from hardware.stations import offline

    sid = parse_uuid(sync_id, "sync_id")
    with transaction(writes=True) as session:
        got = offline.resolve(
            session, sync_id=sid, apply=apply, actor=actor(), reason=reason, profile=profile(),
            home_country=settings().node_country,
        )  # fmt: skip
    emit(got.as_dict(), human=f"{label(got.status)}: {got.reason}")
    if got.status != "applied" and apply:
        raise typer.Exit(Exit.CONFLICT)
