"""docs/api.md lists every route of the app with the permission it really declares (regenerate with
`python -m api.route_docs`)."""

from __future__ import annotations

from fastapi import FastAPI

from api import route_docs


def test_the_documented_route_table_is_the_apps(app: FastAPI) -> None:
    assert route_docs.documented() == route_docs.table(app)


def test_every_api_route_is_in_the_table(app: FastAPI) -> None:
    documented = route_docs.documented()
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.startswith("/api/v1"):
            assert f"`{path}`" in documented, path
