"""The route table of `docs/api.md`, generated from the app itself so the reference cannot drift.

`python -m api.route_docs` rewrites the table between its markers; `tests/api/test_route_docs.py` fails while
the document and the app disagree. A route's permission is the one `api.auth.require` records on it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from registry.users.roles import PERMISSIONS, Permission, Role

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
BEGIN, END = "<!-- routes:begin (python -m api.route_docs) -->", "<!-- routes:end -->"
# Authenticated otherwise than by a user's credentials, or open by design.
NOT_BY_ROLE = {
    ("POST", "/api/v1/auth/token"): ("open", "everyone"),
    ("POST", "/api/v1/federation/messages"): ("peer signature", "peer nodes"),
    ("GET", "/api/v1/federation/node"): ("open", "everyone"),
    ("POST", "/federation/v1/messages"): ("peer signature", "peer nodes"),
    ("GET", "/healthz"): ("open", "everyone"),
    ("GET", "/readyz"): ("open", "everyone"),
}
OUTSIDE_V1 = {path for _method, path in NOT_BY_ROLE if not path.startswith("/api/v1")}


def _permissions(dependant: Dependant) -> list[Permission]:
    found: list[Permission] = []
    for dep in dependant.dependencies:
        if (p := getattr(dep.call, "permission", None)) is not None:
            found.append(p)
        found.extend(_permissions(dep))
    return found


def rows(app: FastAPI) -> list[str]:
    out = []
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if ctx.path is None or not isinstance(route, APIRoute):
            continue
        if not ctx.path.startswith("/api/v1") and ctx.path not in OUTSIDE_V1:
            continue
        for method in sorted(ctx.methods or ()):
            if (method, ctx.path) in NOT_BY_ROLE:
                permission, roles = NOT_BY_ROLE[(method, ctx.path)]
            else:
                perms = _permissions(route.dependant)
                permission = ", ".join(p.value for p in perms)
                roles = ", ".join(r.value for r in Role if all(p in PERMISSIONS[r] for p in perms))
            what = (route.summary or "").replace("|", "\\|")
            out.append(f"| {method} | `{ctx.path}` | {permission} | {roles} | {what} |")
    return sorted(set(out), key=lambda r: (r.split("`")[1], r.split(" | ")[0]))


def table(app: FastAPI) -> str:
    head = "| method | path | permission | roles | what |\n|---|---|---|---|---|\n"
    return head + "\n".join(rows(app)) + "\n"


def documented() -> str:
    text = DOC.read_text(encoding="utf-8")
    match = re.search(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), text, re.S)
    return match.group(1) if match else ""


def write(app: FastAPI) -> None:
    text = DOC.read_text(encoding="utf-8")
    block = f"{BEGIN}\n{table(app)}{END}"
    if BEGIN in text:
        text = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    else:
        start = text.index("| method | path |")
        end = text.index("\n\n", start)
        text = text[:start] + block + text[end:]
    DOC.write_text(text, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover - a maintainer's tool
    from api.app import create_app

    write(create_app())
    print(f"{DOC}: {len(rows(create_app()))} routes", file=sys.stderr)  # noqa: T201
