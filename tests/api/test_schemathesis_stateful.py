"""Stateful schemathesis over the API: sequences of calls chained by OpenAPI links, against the live server
of tests/api/test_schemathesis.py (a uvicorn on loopback over a demo country, a token per role).

Links (added to a copy of the live document; the app's own document is not changed):

- `POST /weapons` → `GET /weapons/{id}`, `POST /weapons/{id}/events`, `GET /weapons/{id}/history`; an event
  → the history of the same weapon.
- `POST /organisations` → `GET /organisations/{id}` → `PATCH /organisations/{id}` with `If-Match` taken from
  the `ETag` of the read; a patch → a read of the same organisation.

Request bodies are `anyOf` the documented schema and an anchor that the registry accepts (a valid weapon with a
generated serial, a known event type, a valid organisation), so chains reach their later steps instead of
stopping at the first 422. Every response is checked: no 5xx, documented status, content type, schema and
headers, and a created resource is found where the link says (`ensure_resource_availability`).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ensure_resource_availability, use_after_free

from tests.api.test_schemathesis import (  # noqa: F401 (live_api: the module fixture)
    CHECKS,
    LiveApi,
    live_api,
)
from tests.factories import unique_serial

pytestmark = pytest.mark.slow

V1 = "/api/v1"
PATHS = {
    f"{V1}/weapons": ("post",),
    f"{V1}/weapons/{{weapon_id}}": ("get",),
    f"{V1}/weapons/{{weapon_id}}/events": ("post",),
    f"{V1}/weapons/{{weapon_id}}/history": ("get",),
    f"{V1}/organisations": ("post",),
    f"{V1}/organisations/{{org_id}}": ("get", "patch"),
}
SERIAL = {"type": "string", "pattern": "^[A-HJ-NP-Z]{2}[0-9]{6}$"}
MANUFACTURE_MARK = {
    "type": "object",
    "required": ["text", "kind", "component", "manufacturer", "country", "serial", "year"],
    "properties": {
        "text": {"const": "GLOCK AUSTRIA"},
        "kind": {"const": "manufacture"},
        "component": {"const": "frame"},
        "manufacturer": {"const": "GLOCK"},
        "country": {"const": "AT"},
        "serial": SERIAL,
        "year": {"const": 2020},
    },
    "additionalProperties": False,
}
IMPORT_MARK = {
    "const": {"text": "IMP KE 2021", "kind": "import", "component": "frame", "country": "KE", "year": 2021}
}
WEAPON_ANCHOR = {
    "type": "object",
    "required": ["category", "make", "model", "calibre", "year_of_manufacture", "markings", "event"],
    "properties": {
        "category": {"const": "SA-PIS"},
        "make": {"const": "Glock"},
        "model": {"const": "17"},
        "calibre": {"const": "9mm Luger"},
        "year_of_manufacture": {"const": 2020},
        "serial": SERIAL,
        # A manufacture mark with a generated serial and the import mark (tests/api/conftest.py weapon_body).
        "markings": {
            "type": "array",
            "minItems": 2,
            "maxItems": 2,
            "items": {"anyOf": [MANUFACTURE_MARK, IMPORT_MARK]},
        },
        "event": {"const": {"type": "imported", "to_country": "KE"}},
    },
    "additionalProperties": False,
}
EVENT_ANCHOR = {
    "enum": [
        {"type": "stolen", "notes": "burglary"},
        {"type": "found", "location": "Kisumu"},
        {"type": "lost"},
        {"type": "seized", "location": "Mombasa"},
        {"type": "deactivated"},
    ]
}
ORG_ANCHOR = {
    "type": "object",
    "required": ["name", "kind", "country"],
    "properties": {
        "name": {"type": "string", "pattern": "^Org [A-Z]{6}$"},
        "kind": {"enum": ["dealer", "manufacturer", "importer"]},
        "country": {"const": "KE"},
    },
    "additionalProperties": False,
}
ANCHORS = {
    (f"{V1}/weapons", "post"): WEAPON_ANCHOR,
    (f"{V1}/weapons/{{weapon_id}}/events", "post"): EVENT_ANCHOR,
    (f"{V1}/organisations", "post"): ORG_ANCHOR,
}


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


def stateful_document(doc: dict[str, Any]) -> dict[str, Any]:
    """The weapon and organisation operations of the live document, with links and anchored bodies."""
    out = copy.deepcopy(doc)
    out["paths"] = {p: {m: doc["paths"][p][m] for m in methods} for p, methods in PATHS.items()}
    ops = {(p, m): out["paths"][p][m] for p, methods in PATHS.items() for m in methods}
    for key, anchor in ANCHORS.items():
        content = ops[key]["requestBody"]["content"]["application/json"]
        content["schema"] = {"anyOf": [anchor, content["schema"]]}
    oid = {key: op["operationId"] for key, op in ops.items()}
    weapon_id = {"path.weapon_id": "$response.body#/id"}
    same_weapon = {"path.weapon_id": "$request.path.weapon_id"}
    links = {
        (f"{V1}/weapons", "post", "201"): {
            "GetWeapon": _link(oid[(f"{V1}/weapons/{{weapon_id}}", "get")], **weapon_id),
            "AddEvent": _link(oid[(f"{V1}/weapons/{{weapon_id}}/events", "post")], **weapon_id),
            "History": _link(oid[(f"{V1}/weapons/{{weapon_id}}/history", "get")], **weapon_id),
        },
        (f"{V1}/weapons/{{weapon_id}}/events", "post", "201"): {
            "HistoryAfterEvent": _link(oid[(f"{V1}/weapons/{{weapon_id}}/history", "get")], **same_weapon),
            "AnotherEvent": _link(oid[(f"{V1}/weapons/{{weapon_id}}/events", "post")], **same_weapon),
        },
        (f"{V1}/organisations", "post", "201"): {
            "GetOrganisation": _link(
                oid[(f"{V1}/organisations/{{org_id}}", "get")], **{"path.org_id": "$response.body#/id"}
            ),
        },
        (f"{V1}/organisations/{{org_id}}", "get", "200"): {
            "PatchWithETag": _link(
                oid[(f"{V1}/organisations/{{org_id}}", "patch")],
                **{"path.org_id": "$request.path.org_id", "header.if-match": "$response.header.ETag"},
            ),
        },
        (f"{V1}/organisations/{{org_id}}", "patch", "200"): {
            "ReadAfterPatch": _link(
                oid[(f"{V1}/organisations/{{org_id}}", "get")], **{"path.org_id": "$request.path.org_id"}
            ),
        },
    }
    for (path, method, status), found in links.items():
        ops[(path, method)]["responses"][status]["links"] = found
    return out


def test_linked_operations_conform(live_api: LiveApi) -> None:  # noqa: F811 (pytest fixture)
    doc = httpx.get(f"{live_api.url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(stateful_document(doc))
    schema.config.update(base_url=live_api.url)
    # Valid data only: chains need their first steps to succeed. The stateless test sends the invalid data.
    schema.config.generation.update(modes=[GenerationMode.POSITIVE], allow_x00=False)
    calls: list[tuple[str, str, int]] = []

    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: Any) -> None:
            # A fresh serial and name on every call: Hypothesis replays choices, and the live registry must
            # answer a replayed anchored create as it did the first time (201, not 409 for the same serial),
            # or the rule choices that depend on the answers become inconsistent.
            body, path = case.body, case.operation.path
            if path == f"{V1}/weapons" and isinstance(body, dict) and isinstance(body.get("markings"), list):
                for mark in body["markings"]:
                    if isinstance(mark, dict) and mark.get("text") == "GLOCK AUSTRIA":
                        mark["serial"] = unique_serial()
            if (
                path == f"{V1}/organisations"
                and isinstance(body, dict)
                and str(body.get("name")).startswith("Org ")
            ):
                body["name"] = f"Org {unique_serial()}"

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "headers": live_api.headers_for(case.operation.method, case.operation.path),
                "timeout": 30,
            }

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            calls.append((case.operation.method.upper(), case.operation.path, response.status_code))
            checks = [*CHECKS, ensure_resource_availability, use_after_free]
            case.validate_response(response, checks=checks, transport_kwargs=kwargs)

    run_settings = settings(
        max_examples=100,
        stateful_step_count=8,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.generate],  # no shrinking against a live server: the report names the sequence
        suppress_health_check=list(HealthCheck),
    )
    try:
        Machine.run(settings=run_settings)
    except FlakyStrategyDefinition:
        # Not a finding about the API: Hypothesis replays a prefix of choices and expects the same steps,
        # but the live registry has moved on (a step that found an id before may find another answer now).
        # A failed check ends a run with its own error (or FlakyFailure carrying it), never with this one.
        calls.clear()
        Machine.run(settings=run_settings)
    reached = {(m, p) for m, p, s in calls if s < 300}
    # The chains did reach their later steps with real ids (not only 404s and 422s).
    for step in (
        ("POST", f"{V1}/weapons"),
        ("GET", f"{V1}/weapons/{{weapon_id}}"),
        ("POST", f"{V1}/weapons/{{weapon_id}}/events"),
        ("GET", f"{V1}/weapons/{{weapon_id}}/history"),
        ("POST", f"{V1}/organisations"),
        ("GET", f"{V1}/organisations/{{org_id}}"),
        ("PATCH", f"{V1}/organisations/{{org_id}}"),
    ):
        assert step in reached, f"{step} never succeeded in {len(calls)} calls: {sorted(set(calls))[:60]}"
