"""Re-sealing personal data after a data-key rotation, online, resumable and idempotent.

`crypto.rotate_data_keys` makes a new current key; every write from then on seals with it, and every read
opens a row with the key its `key_id` names, so officers keep working while this runner moves the old rows
over. Each batch is its own short transaction (the rows are locked, re-sealed, audited, committed), so an
officer waits at most one batch for a person being re-sealed.

Progress is a small JSON file next to the data key file (`<key file>.reseal.json`): the current key id and the
last person id done. It is written only after a batch has committed, so after a crash (kill -9, power loss)
the next run starts at the last committed batch or earlier — never later. Starting earlier is harmless: a row
already sealed with the current key is not selected again (`key_id != current`), which is what makes the
runner idempotent. A run that reaches the end sweeps once more from the start before saying it is done: a
row written with the old key by a process that had loaded the keys just before the rotation may have landed
behind the cursor (person ids are random).

Why a file and not a table: progress is operational state of one rotation, like the key file it belongs to,
and a schema change for it is not worth a migration; losing the file only costs one extra pass.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson
from sqlalchemy.orm import Session, sessionmaker

from registry.audit import service as audit
from registry.db import WRITES, utcnow
from registry.errors import ValidationError
from registry.persons import crypto
from registry.persons import repository as repo
from registry.persons.crypto import DataKeys

log = logging.getLogger(__name__)


@dataclass
class Progress:
    key_id: str
    after: str | None = None  # last person id re-sealed in the current pass (ids compared as UUIDs)
    resealed: int = 0
    batches: int = 0
    passes: int = 1
    done: bool = False
    started_at: str = ""
    updated_at: str = ""


def progress_path(data_key_file: Path) -> Path:
    return data_key_file.with_name(data_key_file.name + ".reseal.json")


def load_progress(path: Path, key_id: str) -> Progress:
    """The saved progress for `key_id`; a fresh one if none, or if it belongs to an earlier rotation."""
    try:
        doc = orjson.loads(path.read_bytes())
        saved = Progress(**doc)
    except FileNotFoundError:
        saved = None
    except (orjson.JSONDecodeError, TypeError):
        log.warning("persons.reseal.progress_unreadable path=%s (starting from the beginning)", path)
        saved = None
    if saved is None or saved.key_id != key_id:
        return Progress(key_id=key_id, started_at=utcnow().isoformat())
    return saved


def save_progress(path: Path, progress: Progress) -> None:
    progress.updated_at = utcnow().isoformat()
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(asdict(progress), option=orjson.OPT_INDENT_2))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def reseal_batch(
    session: Session, *, actor: str, keys: DataKeys, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """Re-seal up to `limit` rows after `after` (id order) still sealed with an old key; one audit entry."""
    rows = repo.sealed_with_other_key_after(session, keys.current.key_id, after=after, limit=limit)
    if not rows:
        return []
    now = utcnow()
    for person in rows:
        fields = crypto.unseal_with(keys, person.key_id, person.id, person.sealed)
        person.sealed = crypto.seal(keys.current, person.id, fields)
        person.identity_hmac = crypto.identity_hmac(
            keys.current,
            identity_number=fields["identity_number"],
            identity_country=fields["identity_country"],
        )
        person.key_id = keys.current.key_id
        person.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=actor,
        action="person.resealed",
        records=[audit.snapshot_obj(p) for p in rows],
        info={"count": len(rows), "key_id": keys.current.key_id},
    )
    return [p.id for p in rows]


def run(
    sessions: sessionmaker[Session],
    *,
    actor: str,
    keys: DataKeys,
    progress_file: Path,
    batch: int = 500,
    pause: float = 0.0,
    max_batches: int | None = None,
    on_batch: Callable[[Progress], None] | None = None,
) -> Progress:
    """Re-seal every row not sealed with `keys.current`, resuming from `progress_file`.

    `pause` seconds between batches leave room for officers' writes on a busy node; `max_batches` stops
    early (the next run resumes). Returns the progress, `done` once no row names an old key.
    """
    if batch < 1:
        raise ValidationError("batch must be at least 1", field="batch")
    progress = load_progress(progress_file, keys.current.key_id)
    progress.done = False
    ran = 0
    while max_batches is None or ran < max_batches:
        after = uuid.UUID(progress.after) if progress.after else None
        with sessions(execution_options=WRITES) as session, session.begin():
            ids = reseal_batch(session, actor=actor, keys=keys, after=after, limit=batch)
            left = 0 if ids else repo.count_sealed_with_other_key(session, keys.current.key_id)
        if ids:
            progress.after, progress.resealed, progress.batches = (
                str(ids[-1]),
                progress.resealed + len(ids),
                progress.batches + 1,
            )
        elif left:  # rows behind the cursor: one more pass from the start
            progress.after, progress.passes = None, progress.passes + 1
        else:
            progress.done = True
        save_progress(progress_file, progress)
        if on_batch is not None:
            on_batch(progress)
        if progress.done:
            log.info("persons.reseal.done key_id=%s resealed=%d", progress.key_id, progress.resealed)
            break
        ran += 1
        if pause:
            time.sleep(pause)
    return progress
