"""A marking job (what the machine will engrave) and the jurisdiction rules it must meet before it is sent.

A mark is irreversible, so a job that breaks the rules is refused here, before any byte reaches a machine.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from hardware.codes import uii
from hardware.codes.errors import CodeError
from hardware.codes.uii import UniqueMark

# Text fields in the order a mark shows them (maker first, then model, serial, country, year).
TEXT_ORDER = ("maker", "model", "serial", "country", "year")
CODE_FIELD = "code"


class JobRefused(ValueError):
    """The job breaks a rule of the profile (or of the machine); nothing was sent."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class MarkRules:
    """What the node's jurisdiction profile asks of a physical mark (see hardware.stations.compose)."""

    profile: str
    require_model: bool = False
    require_year: bool = False
    # ITI 8(a): maker, country of manufacture and serial are always required.
    serial_pattern: re.Pattern[str] | None = None
    serial_pattern_text: str = ""
    min_char_height_mm: float | None = None
    min_depth_mm: float | None = None
    # Unicode script names whose letters may appear (None: any letter); digits, space and - . / always may.
    scripts: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MarkField:
    """One field of the machine's layout: a line of text, or the Data Matrix carrying the payload."""

    name: str
    text: str
    char_height_mm: float

    @property
    def is_code(self) -> bool:
        return self.name == CODE_FIELD


@dataclass(frozen=True)
class MarkJob:
    fields: tuple[MarkField, ...]
    depth_mm: float
    program: int = 1
    method: str = "laser"
    info: dict[str, str] = field(default_factory=dict)

    @property
    def payload(self) -> str | None:
        return next((f.text for f in self.fields if f.is_code), None)

    def field_texts(self) -> dict[int, str]:
        """Field number (1-based, the machine's block or string number) to text."""
        return {n: f.text for n, f in enumerate(self.fields, start=1)}


def check_job(job: MarkJob, rules: MarkRules) -> UniqueMark:
    """Refuse a job that breaks `rules`; return the unique mark its Data Matrix carries."""
    texts = {f.name: f for f in job.fields if not f.is_code}
    _check_names_and_order(job)
    required = ["maker", "serial", "country"]
    required += ["model"] if rules.require_model else []
    required += ["year"] if rules.require_year else []
    for name in required:
        if name not in texts or not texts[name].text.strip():
            raise JobRefused(f"the {rules.profile} profile requires the {name} in the mark", field=name)
    for f in texts.values():
        _check_text(f, rules)
    if rules.serial_pattern and not rules.serial_pattern.match(texts["serial"].text):
        raise JobRefused(
            f"serial {texts['serial'].text!r} breaks the {rules.profile} profile: {rules.serial_pattern_text}",
            field="serial",
        )
    if rules.min_depth_mm is not None and job.depth_mm < rules.min_depth_mm:
        raise JobRefused(
            f"depth {job.depth_mm:g} mm is below the {rules.profile} minimum of {rules.min_depth_mm:g} mm",
            field="depth_mm",
        )
    return _check_code(job, texts)


def _check_names_and_order(job: MarkJob) -> None:
    names = [f.name for f in job.fields if not f.is_code]
    unknown = [n for n in names if n not in TEXT_ORDER]
    if unknown:
        raise JobRefused(f"unknown mark field {unknown[0]!r}", field=unknown[0])
    if len(set(names)) != len(names):
        raise JobRefused("a mark field appears twice", field="fields")
    if names != sorted(names, key=TEXT_ORDER.index):
        raise JobRefused(f"mark fields must come in the order {', '.join(TEXT_ORDER)}", field="fields")
    if sum(f.is_code for f in job.fields) != 1:
        raise JobRefused("a job carries exactly one Data Matrix field", field=CODE_FIELD)


def _check_text(f: MarkField, rules: MarkRules) -> None:
    if rules.min_char_height_mm is not None and f.char_height_mm + 1e-9 < rules.min_char_height_mm:
        raise JobRefused(
            f"{f.name} characters are {f.char_height_mm:g} mm high; the {rules.profile} profile needs at "
            f"least {rules.min_char_height_mm:g} mm",
            field=f.name,
        )
    for ch in f.text:
        if (ch.isdigit() and ch.isascii()) or ch in " -./":
            continue
        if not ch.isalpha():
            raise JobRefused(f"{f.name} contains {ch!r}, which a mark may not show", field=f.name)
        script = unicodedata.name(ch, "").split(" ")[0]
        if rules.scripts is not None and script not in rules.scripts:
            allowed = ", ".join(s.title() for s in rules.scripts)
            raise JobRefused(
                f"{f.name} contains {ch!r}; the {rules.profile} profile allows {allowed} letters only",
                field=f.name,
            )


def _check_code(job: MarkJob, texts: dict[str, MarkField]) -> UniqueMark:
    """The Data Matrix must say what the human-readable mark says (a mismatch would mislead a tracer)."""
    try:
        mark = uii.parse(job.payload or "")
    except CodeError as exc:
        raise JobRefused(f"the Data Matrix payload is malformed: {exc.message}", field=CODE_FIELD) from exc
    pairs = {
        "serial": mark.serial,
        "country": mark.country,
        "year": None if mark.year is None else str(mark.year),
        "model": mark.model,
    }
    for name, coded in pairs.items():
        shown = texts[name].text if name in texts else None
        if normalise(shown) != normalise(coded):
            raise JobRefused(
                f"the Data Matrix {name} {coded!r} differs from the human-readable {name} {shown!r}",
                field=name,
            )
    return mark


def normalise(text: str | None) -> str | None:
    """Upper case, letters and digits plus - . / only: how a model or serial is written in a payload."""
    if text is None:
        return None
    return re.sub(r"[^A-Z0-9./-]", "", text.upper()) or None
