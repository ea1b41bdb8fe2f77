"""The API fixtures of tests/api (app bound to the test transaction, role logins) for the security suite."""

from __future__ import annotations

from tests.api.conftest import app, client, login_headers, officer, weapon_body  # noqa: F401
