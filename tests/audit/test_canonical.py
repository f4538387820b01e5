"""The hand-written canonical form is byte for byte the JSON definition (a mismatch would break every chain)."""

from __future__ import annotations

import datetime

from hypothesis import given
from hypothesis import strategies as st

from mentorship.audit.chain import canonical_bytes, reference_canonical_bytes, utc_text

text = st.text()
maybe_id = st.none() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(
    seq=st.integers(min_value=1, max_value=2**62),
    occurred=st.text(),
    actor_id=maybe_id,
    actor_label=text,
    action=text,
    object_type=text,
    object_id=text,
    program_id=maybe_id,
    student_id=maybe_id,
    outcome=text,
    ip=st.none() | text,
    request_id=text,
    details=st.dictionaries(st.text(), json_values, max_size=5),
)
def test_fast_canonical_form_matches_the_definition(**values):
    ordered = [
        values[name]
        for name in (
            "seq", "occurred", "actor_id", "actor_label", "action", "object_type", "object_id", "program_id",
            "student_id", "outcome", "ip", "request_id", "details",
        )
    ]  # fmt: skip
    assert canonical_bytes(*ordered) == reference_canonical_bytes(*ordered)


@given(st.datetimes(min_value=datetime.datetime(1000, 1, 1), timezones=st.timezones()))
def test_utc_text_matches_strftime(moment):
    expected = moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if moment.astimezone(datetime.UTC).year >= 1000:
        assert utc_text(moment) == expected
