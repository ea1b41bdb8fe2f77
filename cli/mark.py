"""`iti mark`: the machine-readable mark of a registered weapon, parsing payloads, and marking stations."""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cli.common import Exit, emit, fail, parse_uuid, profile, table, transaction
from hardware.codes import render, symbols, uii
from hardware.codes.errors import CodeError
from hardware.marking.job import JobRefused
from hardware.stations.compose import compose_for

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
        human=f"{out}: Data Matrix {sym.width}x{sym.height} for {uii.show(composed.payload)}",
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
        human=table(f"UII {mark.uii}", ["DI", "field", "value"], rows),
    )
