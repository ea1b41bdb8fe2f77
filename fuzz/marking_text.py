"""Fuzz marking-text normalisation and the matcher's query parser.

Targets: `registry.reference.service.text_key` (how serials and marks become keys), `tracing.matching.
skeleton.normalise_observed` / `skeleton`, `tracing.matching.service.Query.parse` and the look-up `plan` built
from a query. Documented errors: `ValidationError` from `Query.parse` only; the others never raise.
Properties: normalisation is idempotent, a skeleton keeps the length of its text, a key holds letters and
digits only, and a query never plans more look-ups than the matcher's budget.
"""

from __future__ import annotations

from fuzz._runner import fuzz, time_bound
from registry.errors import ValidationError
from registry.reference.service import text_key
from tracing.matching.service import MAX_LENGTH, MAX_PROBES, Query, anchors, plan
from tracing.matching.skeleton import UNREADABLE, normalise_observed, skeleton


def check(data: bytes) -> None:
    text = data.decode("utf-8", errors="replace")
    with time_bound():
        key = text_key(text)
        assert key == text_key(key), (text, key)
        assert all(c.isalnum() for c in key), key
        observed = normalise_observed(text)
        assert normalise_observed(observed) == observed, (text, observed)
        skel = skeleton(observed)
        assert len(skel) == len(observed)
        try:
            query = Query.parse(text)
        except ValidationError as exc:
            assert exc.field == "serial"
            return
        assert 0 < len(query.text) <= MAX_LENGTH
        assert query.unreadable == query.text.count(UNREADABLE)
        p = plan(skeleton(query.text))
        # Each hole in a probe pattern multiplies by the alphabet; the budget bounds the whole plan.
        assert p.lookups <= MAX_PROBES * 2, p.lookups
        anchors(skeleton(query.text))


if __name__ == "__main__":
    fuzz(check)
