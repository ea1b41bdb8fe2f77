"""End-to-end: the real app on uvicorn over loopback, a migrated SQLite file with a small demo country, and
Debian's Chromium driven by Playwright (installed by `make test`; the test tool downloads no browser).

Screenshots go to `tests/artifacts/` (git-ignored); `docs/guide/` uses copies of them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from api.app import create_app
from registry import migrate
from registry.audit import service as audit
from registry.audit.keys import load_or_create_signing_key
from registry.config import get_settings
from registry.db import make_engine, make_sessionmaker
from registry.demo.generator import generate
from registry.persons.crypto import load_or_create_data_keys
from registry.profiles import get_profile
from registry.reference.service import seed_reference_data
from registry.users import service as users
from tests.live_server import live_server as serving

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM = os.environ.get("ITI_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "e2e correct horse battery"
ROLES = ("record_officer", "poc_officer", "marking_operator", "auditor", "admin")


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("e2e")
    settings = dataclasses.replace(
        get_settings(), database_url=f"sqlite:///{folder / 'e2e.db'}", var_dir=folder
    )
    migrate.upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    with make_sessionmaker(engine)() as session, session.begin():
        seed_reference_data(session, actor="e2e")
        generate(
            session,
            profile=get_profile("iti"),
            home="KE",
            weapons_count=60,
            seed=3,
            keys=load_or_create_data_keys(settings),
        )
        for role in ROLES:
            users.add_user(
                session, actor="e2e", username=role.replace("_", "-"), role=role, password=PASSWORD
            )
        audit.sign_head(session, load_or_create_signing_key(settings), actor="e2e")
    with serving(create_app(settings, engine=engine)) as base:
        yield base
    engine.dispose()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), (
        f"{CHROMIUM} missing: run `make test` (it installs it)"
    )
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium: Browser, live_server: str) -> Iterator[Page]:
    # A small laptop screen: the UI must work at 1280×720.
    context = chromium.new_context(base_url=live_server, viewport={"width": 1280, "height": 720})
    context.set_default_timeout(10_000)
    pg = context.new_page()
    yield pg
    context.close()


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def sign_in(page: Page, role: str) -> None:
    page.goto("/ui/")
    assert "/ui/login" in page.url
    # By the fields' ids, not their labels: the login page may be in any of the six languages.
    page.locator("#username").fill(role.replace("_", "-"))
    page.locator("#password").fill(PASSWORD)
    page.locator("#password").press("Enter")  # keyboard, as officers do
    page.wait_for_url("**/ui/")
