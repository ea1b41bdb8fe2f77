"""Short deterministic runs of the fuzz harnesses (fuzz/) in CI: Hypothesis drives the same `check` functions
as the long atheris runs, with a fixed derandomised seed, plus every input the long runs turned up as a
regression example. Each `check` asserts that its parser raises only its documented errors, answers within
the per-input time bound and round-trips where that applies (see each harness's docstring)."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fuzz import envelope, imports, marking_text, trace_body, uii

CI = settings(
    derandomize=True,
    database=None,
    deadline=None,  # each check has its own time bound (fuzz/_runner.py); a slow first call loads data
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


def json_bytes(value: Any) -> bytes:
    return orjson.dumps(value)


# The Data Matrix payload: raw bytes, and envelopes of data elements with digit-heavy values.
ELEMENT = st.tuples(st.integers(0, 10), st.text(alphabet="0123456789ABZ-./\n ", max_size=12))


@settings(CI, max_examples=2000)
@given(st.one_of(st.binary(max_size=200), st.lists(ELEMENT, max_size=6)))
@example(base64.b64decode("B/84Ch1RWA=="))  # a newline after a value passed `^...$` (fixed: fullmatch)
@example(b"\x01\x00ABC\x1d\x04X1\x1d\x0709990101")  # year 999: composed as "9990101" (fixed: %04d)
def test_unique_mark_payload(data: bytes | list[tuple[int, str]]) -> None:
    if isinstance(data, list):
        data = b"\x01" + b"\x1d".join(bytes([di]) + text.encode() for di, text in data)
    uii.check(data)


@settings(CI, max_examples=1000)
@given(
    st.one_of(
        st.binary(max_size=80), st.text(alphabet="0OQDIl17ZS5B8?*_ -АВЕΟΙ", max_size=40).map(str.encode)
    )
)
@example(b"AB????????12")
@example("ﬀ①Ⅻ".encode())
def test_marking_text_and_query(data: bytes) -> None:
    marking_text.check(data)


@settings(CI, max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.tuples(st.integers(0, 255), json_values).map(lambda t: b"\x03" + bytes([t[0]]) + json_bytes(t[1])),
        st.lists(st.text(max_size=12), min_size=1, max_size=6).map(
            lambda cells: imports.CSV_SEED + ",".join(cells).encode()
        ),
    )
)
@example(
    base64.b64decode(
        "LItha2UsbW9kZWwsY2FsaWJyZSxzZXJpYWwsY291bnRyeV9vZl9tYW51ZmFjdHVyZSx5ZWFyX29mX21hbnVmYWN0dXJlLGV2ZW50X3R5cGUsb2NjdXJyZWQuYXQKU0EtUElTLEdsb2NrLDE3LDltbSBMdWdlcixBQjEyMzQ1LEFULDIxOS0wNS0wbQ=="
    )
)  # not UTF-8
@example(b'{"category":"SA-PIS","make":"Glock","markings":[{"text":5}]}\n')  # a number as a mark's text
@example(b'{"category":"SA-PIS","make":"Glock","markings":[{"text":"A","year":"x"}]}\n')
def test_import_records(data: bytes) -> None:
    imports.check(data)


@settings(CI, max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: b"\x01" + json_bytes(v)),
        st.dictionaries(st.sampled_from(sorted(envelope.envelope.ENVELOPE_FIELDS)), json_values).map(
            json_bytes
        ),
    )
)
@example(b"\x01" + b'{"a":' * 300 + b"1" + b"}" * 300)
def test_federation_envelope(data: bytes) -> None:
    envelope.check(data)


@settings(CI, max_examples=500)
@given(
    st.one_of(
        st.binary(max_size=120),
        st.tuples(st.integers(0, 255), st.integers(0, 255), json_values).map(
            lambda t: bytes([t[0], t[1]]) + json_bytes(t[2])
        ),
    )
)
@example(base64.b64decode("/3ov"))  # "recovery": "z/" reached `.get` on a string (fixed: messages.obj)
@example(
    bytes([1, trace_body.PATHS.index(("weapon", "category"))]) + b'"' + b"X" * 100 + b'"'
)  # too long for PG
def test_trace_message_bodies(data: bytes) -> None:
    trace_body.check(data)


@pytest.mark.parametrize("version", [True, 1.0, "1"])
def test_envelope_version_is_the_integer_1(version: object) -> None:
    """A correctly signed envelope whose `v` only equals 1 in Python (`true`, `1.0`) is not version 1."""
    raw = dict(envelope.envelope.sign(
        envelope.KEY, id=uuid.uuid4(), kind="trace.request", from_country="UG", to_country="KE", body={},
        sent_at=envelope.NOW,
    ).raw)  # fmt: skip
    raw.pop("signature")
    raw["v"] = version
    signing_input = envelope.envelope.ENVELOPE_PREFIX + envelope.envelope.canonical(raw)
    raw["signature"] = envelope.envelope.b64url(envelope.KEY.sign(signing_input))
    with pytest.raises(envelope.envelope.Rejected) as refused:
        envelope.envelope.verify(orjson.dumps(raw), me="KE", keys=envelope.keys, now=envelope.NOW)
    assert refused.value.reason == envelope.envelope.UNSUPPORTED_VERSION
