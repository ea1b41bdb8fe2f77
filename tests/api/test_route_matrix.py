"""Every `/api/v1` route declares one permission, refuses anonymous callers (401) and refuses exactly the
roles the matrix does not grant that permission (403), so a new route cannot ship unprotected."""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from registry.users.roles import Permission, Role, has_permission
from tests.api.conftest import login_headers

PROBLEM = "application/problem+json"
# Open by design: logging in; a peer node's signed message (authenticated by its Ed25519 signature, tested in
# tests/tracing/federation); this node's public directory entry (published like /healthz).
OPEN = {
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/federation/messages"),
    ("GET", "/api/v1/federation/node"),
}


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # with its parameters filled in
    permissions: tuple[Permission, ...]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def declared_permissions(dependant: Dependant) -> list[Permission]:
    """The permissions recorded by `api.auth.require` anywhere in a route's dependency tree."""
    found = []
    for dep in dependant.dependencies:
        permission = getattr(dep.call, "permission", None)
        if permission is not None:
            found.append(permission)
        found.extend(declared_permissions(dep))
    return found


def sample_value(annotation: object) -> str:
    """A syntactically valid path value, so any 403 is not hidden by a 422."""
    if annotation is uuid.UUID:
        return str(uuid.uuid4())
    if annotation is int:
        return "1"
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return str(next(iter(annotation)).value)
    return "nobody"


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if ctx.path is None or not ctx.path.startswith("/api/v1"):
            continue
        assert isinstance(route, APIRoute), f"{ctx.path} is not an APIRoute: its permission cannot be read"
        for method in sorted(ctx.methods or ()):
            if (method, ctx.path) not in OPEN:
                yield method, route


def endpoints(app: FastAPI) -> list[Endpoint]:
    out = []
    for method, route in api_routes(app):
        path = route.path
        for param in route.dependant.path_params:
            path = path.replace("{" + param.name + "}", sample_value(param.field_info.annotation))
        out.append(Endpoint(method, path, tuple(declared_permissions(route.dependant))))
    return out


@pytest.fixture
def inventory(app: FastAPI) -> list[Endpoint]:
    found = endpoints(app)
    assert len(found) >= 20, "the route inventory found too few routes: is the walk still right?"
    return found


def test_every_route_declares_exactly_one_permission(inventory: list[Endpoint]) -> None:
    unguarded = [str(e) for e in inventory if len(e.permissions) != 1]
    assert not unguarded, f"routes without exactly one require(Permission.X): {unguarded}"


def test_no_credentials_is_401_problem_everywhere(client: TestClient, inventory: list[Endpoint]) -> None:
    wrong = []
    for e in inventory:
        r = client.request(e.method, e.path, json={})
        if r.status_code != 401 or r.headers["content-type"] != PROBLEM:
            wrong.append(f"{e} -> {r.status_code} {r.headers['content-type']}")
    assert not wrong, wrong


@pytest.mark.parametrize("role", list(Role))
def test_403_exactly_when_the_matrix_denies(
    client: TestClient, session: Session, inventory: list[Endpoint], role: Role
) -> None:
    headers = login_headers(session, role.value)
    wrong = []
    for e in inventory:
        (permission,) = e.permissions
        allowed = has_permission(role, permission)
        r = client.request(e.method, e.path, json={}, headers=headers)
        if allowed and r.status_code in (401, 403):
            wrong.append(f"{e} ({permission}) -> {r.status_code}, but {role} holds it")
        elif allowed and r.status_code >= 500:
            wrong.append(f"{e} -> {r.status_code}: {r.text[:200]}")
        elif not allowed and (r.status_code != 403 or r.headers["content-type"] != PROBLEM):
            wrong.append(f"{e} ({permission}) -> {r.status_code}, but {role} lacks it")
    assert not wrong, wrong


def test_a_route_without_permission_is_caught(app: FastAPI) -> None:
    """The inventory sees a route someone adds without `require`, so the matrix tests above fail on it."""
    app.router.add_api_route("/api/v1/unguarded", lambda: {"ok": True}, methods=["GET"])
    assert any(e.path == "/api/v1/unguarded" and not e.permissions for e in endpoints(app))
