"""Per-node settings of the trace workflow, from the environment (documented in docs/tracing.md).

Defaults: acknowledge within 5 days (2 when urgent), answer within 30 days (7 when urgent). The ITI asks for
prompt, reliable answers without fixing a number of days; these are a starting point each PoC sets for its
state with `ITI_TRACE_*`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from registry.errors import ValidationError

DEFAULT_PHOTO_TYPES = ("image/jpeg", "image/png", "image/webp", "image/tiff")
# What each type's file starts with: a file is what its bytes say, not what its name says.
MAGIC = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/webp": (b"RIFF",),
    "image/tiff": (b"II*\x00", b"MM\x00*"),
}


@dataclass(frozen=True)
class TraceConfig:
    ack_days: int = 5
    answer_days: int = 30
    urgent_ack_days: int = 2
    urgent_answer_days: int = 7
    # Acknowledge receipt automatically when a request arrives (ITI 18); the answer always needs an officer.
    auto_acknowledge: bool = True
    # Share the category of the last lawful holder in answers only where national policy allows (REQ-29).
    share_holder_category: bool = False
    max_photo_bytes: int = 2 * 1024 * 1024
    max_photos: int = 5
    photo_types: tuple[str, ...] = field(default=DEFAULT_PHOTO_TYPES)

    def ack_period(self, urgency: str) -> timedelta:
        return timedelta(days=self.urgent_ack_days if urgency == "urgent" else self.ack_days)

    def answer_period(self, urgency: str) -> timedelta:
        return timedelta(days=self.urgent_answer_days if urgency == "urgent" else self.answer_days)


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a whole number, got {raw!r}", field=name) from None
    if value < 1:
        raise ValidationError(f"{name} must be at least 1", field=name)
    return value


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    return default if raw is None else raw.strip().lower() not in ("0", "false", "no", "off")


def trace_config() -> TraceConfig:
    d = TraceConfig()
    return TraceConfig(
        ack_days=_int("ITI_TRACE_ACK_DAYS", d.ack_days),
        answer_days=_int("ITI_TRACE_ANSWER_DAYS", d.answer_days),
        urgent_ack_days=_int("ITI_TRACE_URGENT_ACK_DAYS", d.urgent_ack_days),
        urgent_answer_days=_int("ITI_TRACE_URGENT_ANSWER_DAYS", d.urgent_answer_days),
        auto_acknowledge=_bool("ITI_TRACE_AUTO_ACK", d.auto_acknowledge),
        share_holder_category=_bool("ITI_TRACE_SHARE_HOLDER_CATEGORY", d.share_holder_category),
        max_photo_bytes=_int("ITI_TRACE_MAX_PHOTO_BYTES", d.max_photo_bytes),
        max_photos=_int("ITI_TRACE_MAX_PHOTOS", d.max_photos),
    )
