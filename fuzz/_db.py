"""A throw-away migrated SQLite registry for the harnesses that need reference data or a session."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session


@cache
def scratch_engine() -> Engine:
    """Migrated and seeded, in a temporary folder removed at exit; settings point there too, so no key or
    file lands in the developer's var/."""
    var = Path(tempfile.mkdtemp(prefix="iti-fuzz-"))
    atexit.register(shutil.rmtree, var, True)
    os.environ.setdefault("ITI_VAR_DIR", str(var))
    os.environ.setdefault("ITI_DATABASE_URL", f"sqlite:///{var / 'fuzz.db'}")
    os.environ.setdefault("ITI_AUDIT_KEY_PASSPHRASE", "fuzz")
    os.environ.setdefault("ITI_PROFILE", "iti")
    os.environ.setdefault("ITI_NODE_COUNTRY", "KE")
    from registry import migrate
    from registry.config import reload_settings
    from registry.db import make_engine
    from registry.reference.service import seed_reference_data

    reload_settings()
    url = f"sqlite:///{var / 'fuzz.db'}"
    migrate.upgrade(url)
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        seed_reference_data(s, actor="fuzz-setup")
    return engine
