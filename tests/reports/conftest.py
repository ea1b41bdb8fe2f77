"""A small national record to report on: weapons in several states and categories, recoveries for SDG 16.4.2,
an incoming trace request answered from the records, an outgoing one refused; and PDF readers for the tests
(pypdf for the text, pypdfium2 to draw a page)."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pypdf
import pypdfium2
import pytest
from PIL import Image
from sqlalchemy.orm import Session

from registry.history.inputs import EventInput
from tests.factories import record, register_weapon
from tests.tracing.requests.conftest import complete_input, inbound_message, request_body, setup_node
from tracing.requests import service as traces

OFFICER = "poc-officer"
# Traces are stamped with the real clock, so the scenario's years follow it: the seizure is last year's.
THIS_YEAR = datetime.now(UTC).year
LAST_YEAR = THIS_YEAR - 1
T = datetime(LAST_YEAR, 6, 1, 9, 0, tzinfo=UTC)


@dataclass
class Scenario:
    weapons: list[uuid.UUID] = field(default_factory=list)
    serials: list[str] = field(default_factory=list)
    answered: uuid.UUID | None = None  # incoming request, answered in full with a supply chain
    refused: uuid.UUID | None = None  # incoming request, refused on an ITI 22 ground
    outgoing: uuid.UUID | None = None  # sent, waiting


def build(session: Session, tmp_path: Path) -> Scenario:
    setup_node(session, tmp_path)
    out = Scenario()
    for _ in range(3):
        reg = register_weapon(session)
        out.weapons.append(reg.weapon.id)
        out.serials.append(reg.weapon.serial or "")
    stolen, seized = out.weapons[1], out.weapons[2]
    record(session, stolen, EventInput(type="stolen", occurred_at=T, location="Mombasa"))
    record(session, seized, EventInput(
        type="seized", occurred_at=T, location="Nairobi",
        data={"criminal_offence": True, "origin_established": "by_other_means"},
    ))  # fmt: skip
    found = register_weapon(session, found_unmarked=True)
    out.weapons.append(found.weapon.id)

    incoming = traces.receive(session, message=inbound_message("trace.request", request_body()))
    traces.answer(
        session, actor=OFFICER, request_id=incoming.id, completeness="full", weapon_id=out.weapons[0],
        text="Imported by a licensed dealer; the record follows.",
    )  # fmt: skip
    out.answered = incoming.id
    other = traces.receive(
        session, message=inbound_message("trace.request", request_body(case_reference="UG/2026/8"))
    )
    traces.refuse(
        session, actor=OFFICER, request_id=other.id, grounds=["ongoing_investigation"],
        reason="A national investigation of the same network is under way.",
    )  # fmt: skip
    out.refused = other.id
    draft = traces.create_draft(session, actor=OFFICER, data=complete_input(weapon_id=seized)).request
    traces.send(session, actor=OFFICER, request_id=draft.id)
    out.outgoing = draft.id
    session.flush()
    return out


@pytest.fixture
def scenario(session: Session, tmp_path: Path) -> Scenario:
    return build(session, tmp_path)


def pdf_pages(data: bytes) -> list[str]:
    """The text of each page, as a reader would copy it."""
    assert data.startswith(b"%PDF-"), data[:20]
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages]


def pdf_text(data: bytes) -> str:
    return "\n".join(pdf_pages(data))


def render_page(data: bytes, index: int = 0, *, dpi: int = 100) -> Image.Image:
    doc = pypdfium2.PdfDocument(data)
    try:
        return doc[index].render(scale=dpi / 72).to_pil().convert("L")
    finally:
        doc.close()


def ink(img: Image.Image) -> float:
    """Share of the page that is not white: 0 for a blank page."""
    histogram = img.histogram()
    return 1 - histogram[255] / sum(histogram)
