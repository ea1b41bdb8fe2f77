"""`iti mark`: the machine-readable mark of a registered weapon, parsing payloads, and marking stations."""

from __future__ import annotations

import csv
import re
import socket
import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer

from cli.common import Exit, actor, emit, fail, parse_uuid, profile, settings, table, transaction
from cli.i18n import L_, _, ngettext
from hardware.codes import uii
from hardware.codes.errors import CodeError
from hardware.marking.errors import MachineError
from hardware.marking.job import JobRefused

if TYPE_CHECKING:
    from hardware.codes.labels import Label
    from hardware.stations.stocktake import Stocktake

# Symbol encoders, image libraries, LLRP and the station modules are imported inside each command: every
# other `iti` command would otherwise pay for loading them.

app = typer.Typer(
    help="Machine-readable marks (Data Matrix, ISO/IEC 15434) and marking stations.", no_args_is_help=True
)

_NAMED = {"RS": "\x1e", "GS": "\x1d", "EOT": "\x04"}


class ImageFormat(StrEnum):
    PNG = "png"
    SVG = "svg"


def unescape(text: str) -> str:
    """Separators as a person can type them: <RS> <GS> <EOT>, or \\x1e \\x1d \\x04."""
    text = re.sub(r"<(RS|GS|EOT)>", lambda m: _NAMED[m.group(1)], text)
    return re.sub(r"\\x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)


def _refused(exc: JobRefused | CodeError) -> None:
    fail(exc.message, Exit.INVALID, {"field": exc.field, "position": getattr(exc, "position", None)})


@app.command("code")
def code_command(
    weapon_id: Annotated[str, typer.Argument(help="The weapon's id")],
    out: Annotated[Path, typer.Option("--out", help="File to write")],
    fmt: Annotated[ImageFormat, typer.Option("--format", help="png or svg")] = ImageFormat.PNG,
    module_mm: Annotated[float, typer.Option(help="SVG module size in mm")] = 0.5,
    module_px: Annotated[int, typer.Option(help="PNG module size in pixels")] = 8,
) -> None:
    """Write the Data Matrix of a registered weapon's unique mark (checked against the node's profile)."""
    from hardware.codes import render, symbols
    from hardware.stations.compose import compose_for

    wid = parse_uuid(weapon_id, "weapon_id")
    with transaction() as session:
        try:
            composed = compose_for(session, wid, profile=profile())
        except (JobRefused, CodeError) as exc:
            _refused(exc)
    sym = symbols.datamatrix(composed.payload)
    if fmt is ImageFormat.PNG:
        out.write_bytes(render.png(sym, module_px=module_px))
    else:
        out.write_text(render.svg(sym, module_mm=module_mm, caption=composed.mark.serial))
    emit(
        {
            "weapon_id": str(wid),
            "payload": composed.payload,
            "size": f"{sym.width}x{sym.height}",
            "file": str(out),
        },
        human=_(
            "%(path)s: Data Matrix %(size)s for %(payload)s",
            path=out,
            size=f"{sym.width}x{sym.height}",
            payload=uii.show(composed.payload),
        ),
    )


@app.command("preview")
def preview_command(
    weapon_id: Annotated[str, typer.Argument(help="The weapon's id")],
    out: Annotated[Path, typer.Option("--out", help="SVG file to write (drawn to scale, in mm)")],
) -> None:
    """Show the operator the whole mark — text at its character height and the Data Matrix — to scale,
    after the profile checks and before anything is sent to a machine."""
    from hardware.marking.preview import preview_svg
    from hardware.stations.compose import compose_for

    wid = parse_uuid(weapon_id, "weapon_id")
    with transaction() as session:
        try:
            composed = compose_for(session, wid, profile=profile())
        except (JobRefused, CodeError) as exc:
            _refused(exc)
    out.write_text(preview_svg(composed.job))
    lines = [f"{f.name}: {uii.show(f.text)} ({f.char_height_mm:g} mm)" for f in composed.job.fields]
    emit(
        {
            "file": str(out),
            "fields": [
                {"name": f.name, "text": f.text, "char_height_mm": f.char_height_mm}
                for f in composed.job.fields
            ],
            "depth_mm": composed.job.depth_mm,
        },
        human="\n".join(
            [_("%(path)s: depth %(depth)s mm", path=out, depth=f"{composed.job.depth_mm:g}"), *lines]
        ),
    )


@app.command("parse")
def parse_command(
    payload: Annotated[
        str,
        typer.Argument(help="The payload; type separators as <RS> <GS> <EOT> or \\x1e; '-' reads raw stdin"),
    ],
) -> None:
    """Print the fields of an ISO/IEC 15434 unique-mark payload; exit 3 naming what is wrong if malformed."""
    text = sys.stdin.buffer.read().decode("latin-1").rstrip("\r\n") if payload == "-" else unescape(payload)
    try:
        mark = uii.parse(text)
    except CodeError as exc:
        _refused(exc)
    rows = [[di, name, value] for di, name, value in uii.describe(text)]
    emit(
        {
            "fields": {name: value for _, name, value in rows},
            "uii": mark.uii,
            "enterprise_di": mark.enterprise_di,
        },
        human=table(f"UII {mark.uii}", ["DI", _("field"), _("value")], rows),
    )


@app.command("read")
def read_command(
    image: Annotated[Path, typer.Argument(help="A photo or camera frame of a mark (PNG, JPEG, …)")],
) -> None:
    """Decode every code in a picture, parse unique-mark payloads, and find the weapon in the registry."""
    from PIL import Image, UnidentifiedImageError

    from hardware.readers.image import decode_image
    from registry.weapons import service as weapons

    try:
        with Image.open(image) as img:
            texts = decode_image(img)
    except (OSError, UnidentifiedImageError) as exc:
        fail(
            L_("cannot read the image %(path)s: %(error)s", path=image, error=exc),
            Exit.INVALID,
            {"field": "image"},
        )
    if not texts:
        fail(L_("no code found in %(path)s", path=image), Exit.NOT_FOUND, {"field": "image"})
    found: list[dict[str, object]] = []
    rows: list[list[str]] = []
    with transaction() as session:
        for text in texts:
            try:
                mark = uii.parse(text)
            except CodeError as exc:
                found.append({"text": text, "error": exc.message})
                rows.append([uii.show(text), exc.message, "—"])
                continue
            ids = [
                str(w.id)
                for w, _ in weapons.find_by_mark(session, mark.serial)
                if w.manufacturer_code == mark.enterprise
            ]
            found.append({"text": text, "uii": mark.uii, "weapon_ids": ids})
            rows.append([uii.show(text), mark.uii, ", ".join(ids) or _("not in the registry")])
    emit({"codes": found}, human=table(str(image), [_("code"), _("UII / problem"), _("weapon")], rows))


@app.command("run")
def run_command(
    weapon_id: Annotated[str, typer.Argument(help="The weapon's id")],
    machine: Annotated[
        str,
        typer.Option(
            "--machine",
            help="panasonic-sim | keyence-sim | panasonic:/dev/ttyUSB0 | panasonic:tcp://HOST:PORT | "
            "keyence:tcp://HOST:PORT | keyence:/dev/ttyS0",
        ),
    ],
    station: Annotated[str, typer.Option(help="This station's name, recorded with the mark")] = "",
    operator: Annotated[str, typer.Option(help="The operator at the machine (default: the actor)")] = "",
    timeout: Annotated[float, typer.Option(help="Seconds a mark may take before it is aborted")] = 60.0,
    camera_image: Annotated[
        Path | None,
        typer.Option(help="Real machines: the file the verification camera writes after marking"),
    ] = None,
    frame_log: Annotated[
        Path | None, typer.Option(help="Append every frame exchanged (hex) to this file")
    ] = None,
) -> None:
    """Mark a registered weapon: compose, check, load, read back, mark, read back, read the code, record.

    The marking is recorded (a `marked` event, verified) only when every comparison matched; otherwise
    nothing is recorded and the command exits 1 naming the stage that failed."""
    from hardware.marking.connect import BadMachineSpec, open_machine
    from hardware.marking.transport import TrafficLog
    from hardware.readers.image import ImageFileCamera
    from hardware.stations import workflow
    from hardware.stations.camera import SimulatedCamera
    from hardware.stations.workflow import Station

    wid = parse_uuid(weapon_id, "weapon_id")
    log = TrafficLog()
    name = station or socket.gethostname()
    try:
        with transaction() as session, open_machine(machine, tap=log) as conn:
            if conn.sim is not None:
                verifier: SimulatedCamera | ImageFileCamera = SimulatedCamera(conn.sim)
            elif camera_image is not None:
                verifier = ImageFileCamera(camera_image)
            else:
                fail(
                    L_("a real machine needs --camera-image to verify the mark"),
                    Exit.USAGE,
                    {"field": "camera_image"},
                )
            outcome = workflow.run(
                session,
                weapon_id=wid,
                machine=conn.machine,
                verifier=verifier,
                station=Station(name, operator or actor(), machine, mark_timeout=timeout),
                profile=profile(),
                actor=actor(),
                home_country=settings().node_country,
                frames=log,
            )
    except BadMachineSpec as exc:
        fail(str(exc), Exit.USAGE, {"field": "machine"})
    except MachineError as exc:
        fail(
            L_("cannot reach the machine: %(error)s", error=exc.message),
            Exit.CHECK_FAILED,
            {"field": "machine"},
        )
    finally:
        if frame_log is not None:
            with frame_log.open("a") as fh:
                fh.writelines(line + "\n" for line in log.lines())
    data = {
        "ok": outcome.ok,
        "stage": outcome.stage,
        "message": outcome.message,
        "payload": outcome.payload,
        "event_id": outcome.event_id,
        "marking_id": outcome.marking_id,
        "frames": len(log.entries),
    }
    if not outcome.ok:
        code = Exit.INVALID if outcome.stage == "compose" else Exit.CHECK_FAILED
        fail(
            L_("mark failed at %(stage)s: %(message)s", stage=outcome.stage, message=outcome.message),
            code,
            {"stage": outcome.stage},
        )
    emit(
        data,
        human=f"[green]{outcome.message}[/] — "
        + _("event %(id)s, %(frames)s frames logged", id=outcome.event_id, frames=len(log.entries)),
    )


@app.command("labels")
def labels_command(
    source: Annotated[
        Path, typer.Argument(help="CSV with columns data,title[,kind][,lines] (kind qr|code128)")
    ],
    out: Annotated[
        Path | None, typer.Option(help="SVG sheet to write (page N of several: NAME-N.svg)")
    ] = None,
    zpl_out: Annotated[Path | None, typer.Option(help="ZPL file to write")] = None,
    printer: Annotated[
        str | None, typer.Option(help="Zebra printer HOST[:PORT] for raw TCP (port 9100)")
    ] = None,
) -> None:
    """Labels for storage racks, cases and paper files: an A4 SVG sheet and/or ZPL for a Zebra printer."""
    from hardware.codes import labels, zpl

    if not (out or zpl_out or printer):
        fail(L_("give --out, --zpl-out or --printer"), Exit.USAGE)
    lbls = _read_labels(source)
    written = []
    if out is not None:
        pages = labels.sheet_svg(lbls)
        for n, page in enumerate(pages, start=1):
            path = out if len(pages) == 1 else out.with_name(f"{out.stem}-{n}{out.suffix}")
            path.write_text(page)
            written.append(str(path))
    data = zpl.labels(lbls)
    if zpl_out is not None:
        zpl_out.write_bytes(data)
        written.append(str(zpl_out))
    if printer is not None:
        host, _, port = printer.partition(":")
        try:
            zpl.send(data, host=host, port=int(port or 9100))
        except OSError as exc:
            fail(
                L_("cannot print to %(printer)s: %(error)s", printer=printer, error=exc),
                Exit.CHECK_FAILED,
                {"field": "printer"},
            )
    emit(
        {"labels": len(lbls), "files": written, "printed": printer},
        human=ngettext(
            "%(num)d label: %(where)s",
            "%(num)d labels: %(where)s",
            len(lbls),
            where=", ".join(written) or printer,
        ),
    )


def _read_labels(source: Path) -> list[Label]:
    from hardware.codes import labels, symbols

    out = []
    with source.open(newline="", encoding="utf-8") as fh:
        for n, row in enumerate(csv.DictReader(fh), start=2):
            try:
                lbl = labels.Label(
                    data=row["data"],
                    title=row.get("title") or row["data"],
                    kind=symbols.Kind(row.get("kind") or "qr"),
                    lines=tuple(x for x in (row.get("lines") or "").split("|") if x),
                )
                lbl.symbol()  # refuse a label that cannot be encoded before anything is printed
            except (KeyError, ValueError) as exc:
                fail(f"{source}:{n}: {exc}", Exit.INVALID, {"line": n})
            out.append(lbl)
    return out


@app.command("stocktake")
def stocktake_command(
    location: Annotated[str, typer.Argument(help="The storage site, as the registry records it")],
    scans: Annotated[
        Path | None, typer.Option(help="File with one scan per line, bytes as read; '-' for a keyboard wedge")
    ] = None,
    reader: Annotated[
        str | None, typer.Option(help="line:/dev/ttyACM0 | keyence-sr:tcp://HOST:PORT | dmcc:tcp://HOST:23")
    ] = None,
    idle: Annotated[
        float, typer.Option(help="With --reader: stop after this many seconds without a read")
    ] = 10.0,
    rfid: Annotated[str | None, typer.Option(help="LLRP RFID reader: HOST[:PORT] (port 5084)")] = None,
    ncage: Annotated[
        str | None, typer.Option(help="With --rfid: the registry's NCAGE code its ADI property tags carry")
    ] = None,
    seconds: Annotated[float, typer.Option(help="With --rfid: inventory time")] = 5.0,
    out: Annotated[Path | None, typer.Option(help="Write the report as JSON")] = None,
    save: Annotated[
        bool, typer.Option("--save", help="Keep the result as a stocktake record (`iti station stocktakes`)")
    ] = False,
    station: Annotated[str, typer.Option(help="With --save: the station or team that counted")] = "",
    notes: Annotated[str, typer.Option(help="With --save: the officer's notes")] = "",
) -> None:
    """Count an armoury: weapons found where the registry says, missing, placed elsewhere, or unknown.

    Exits 1 when anything is missing, elsewhere or unknown (also when saved)."""
    from hardware.stations import records, stocktake

    if sum(x is not None for x in (scans, reader, rfid)) != 1:
        fail(L_("give one of --scans FILE (or -), --reader SPEC or --rfid HOST"), Exit.USAGE)
    if rfid is not None and not ncage:
        fail(L_("--rfid needs --ncage, the code the tags were issued under"), Exit.USAGE, {"field": "ncage"})
    lines = _collect(scans, reader, idle) if rfid is None else []
    epcs = _inventory(rfid, seconds) if rfid is not None else set()
    with transaction(writes=save) as session:
        result = stocktake.count(session, location=location, scans=lines, epcs=epcs, cage=ncage)
        saved = (
            records.save(
                session,
                result=result,
                actor=actor(),
                method="rfid" if rfid is not None else "scan",
                station=station or None,
                notes=notes,
            ).id
            if save
            else None
        )
    report = _report(result) | ({"stocktake_id": str(saved)} if saved else {})
    if out is not None:
        out.write_bytes(orjson.dumps(report, default=str, option=orjson.OPT_INDENT_2))
    human = [
        _(
            "%(location)s: expected %(expected)s, found %(found)s, missing %(missing)s, elsewhere %(elsewhere)s, "
            "unknown %(unknown)s",
            location=location,
            expected=result.expected,
            found=len(result.found),
            missing=len(result.missing),
            elsewhere=len(result.elsewhere),
            unknown=len(result.unknown),
        )
        + (_(" — saved as stocktake %(id)s", id=saved) if saved else "")
    ]
    human += [
        "  " + _("missing: %(weapon)s", weapon=f"{s.make} {s.model or ''} {s.serial} ({s.weapon_id})")
        for s in result.missing
    ]
    human += [
        "  "
        + _(
            "elsewhere: %(weapon)s: registry says %(location)s",
            weapon=f"{s.make} {s.serial}",
            location=s.location or "—",
        )
        for s in result.elsewhere
    ]
    human += [
        "  " + _("unknown: %(scan)s: %(reason)s", scan=uii.show(u.scan), reason=u.reason)
        for u in result.unknown
    ]
    emit(report, human="\n".join(human))
    if not result.clean:
        raise typer.Exit(Exit.CHECK_FAILED)


def _collect(scans: Path | None, reader: str | None, idle: float) -> list[str]:
    from hardware.readers.scanners import open_reader

    if scans is not None:
        raw = sys.stdin.buffer.read() if str(scans) == "-" else scans.read_bytes()
        # Split bytes on LF only: str.splitlines would also cut at GS and RS, the payload's own separators.
        return [line.rstrip(b"\r").decode("latin-1") for line in raw.split(b"\n")]
    try:
        rdr = open_reader(reader or "")
    except (ValueError, MachineError) as exc:
        fail(str(exc), Exit.USAGE, {"field": "reader"})
    out = []
    try:
        while (code := rdr.read(idle)) is not None:
            out.append(code)
    except MachineError as exc:
        fail(
            L_("reader failed after %(reads)s reads: %(error)s", reads=len(out), error=exc.message),
            Exit.CHECK_FAILED,
            {"field": "reader"},
        )
    finally:
        rdr.close()
    return out


def _inventory(rfid: str, seconds: float) -> set[str]:
    from hardware.readers.rfid import LlrpReader

    host, _, port = rfid.partition(":")
    try:
        reader = LlrpReader(host, int(port or 5084))
        try:
            return reader.inventory(seconds)
        finally:
            reader.close()
    except MachineError as exc:
        fail(L_("RFID inventory failed: %(error)s", error=exc.message), Exit.CHECK_FAILED, {"field": "rfid"})


def _report(result: Stocktake) -> dict[str, object]:
    return {
        "location": result.location,
        "expected": result.expected,
        "found": [asdict(s) for s in result.found],
        "missing": [asdict(s) for s in result.missing],
        "elsewhere": [asdict(s) for s in result.elsewhere],
        "unknown": [asdict(u) for u in result.unknown],
        "repeated": result.repeated,
        "clean": result.clean,
    }
