"""HTML forms to the API's own input models, and errors back to the form fields that caused them.

A form field is named like the API field it fills (`make`, `event.to_country`, `marking.text`), so the
registry's field-named errors land next to the right input. Empty inputs mean "not given", as an absent JSON
key would. The UI accepts exactly what the JSON API accepts, through the same models and the same rules.
"""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from api.errors import field_path
from registry.errors import RegistryError

M = TypeVar("M", bound=BaseModel)

# Registry field names that the UI's forms name differently (the form carries one marking, one document).
_RENAMES = (("markings[0].", "marking."), ("markings[1].", "marking2."), ("documents[0].", "document."))
# A rule about a whole list points at the input where the officer fixes it.
_EXACT = {"documents": "document.number", "event.documents": "event.document.number"}
_LIST_FIELDS = {"data.illicit_grounds", "data.transit_countries", "grounds"}


async def form_data(request: Request) -> dict[str, str | list[str]]:
    """The submitted form as a dict (a multi-value field as a list). A dependency, so that sync routes can
    take it: the body is read on the event loop, the route runs in the thread pool."""
    form = await request.form()
    out: dict[str, str | list[str]] = {}
    for key in form:
        values = [v for v in form.getlist(key) if isinstance(v, str)]
        out[key] = values if key in _LIST_FIELDS else (values[-1] if values else "")
    return out


def nest(flat: dict[str, Any], *, skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """{"event.type": "x", "make": ""} -> {"event": {"type": "x"}}: blanks dropped, dots make objects."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        if key in skip or value in ("", []):
            continue
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def form_name(field: str | None) -> str:
    """The form input that a registry or model field path corresponds to."""
    if not field:
        return "form"
    if field in _EXACT:
        return _EXACT[field]
    for api_name, ui_name in _RENAMES:
        if field.startswith(api_name):
            return ui_name + field[len(api_name) :]
    return field


def model_errors(exc: PydanticError) -> dict[str, str]:
    out: dict[str, str] = {}
    for err in exc.errors():
        out.setdefault(form_name(field_path(("body", *err.get("loc", ())))), err.get("msg", "invalid"))
    return out


def registry_errors(exc: RegistryError) -> dict[str, str]:
    field = getattr(exc, "field", None)
    return {form_name(field): str(exc)}


def parse(model: type[M], data: dict[str, Any]) -> M:
    return model.model_validate(data)
