"""Which parent a stored session tells when it ends abnormally, from each form of record."""

from __future__ import annotations

import json

import pytest

from workers.codec import PendingStart, Transient, encode_pending, encode_transient, invoked_by


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (encode_pending(PendingStart(parent="mum", invokeid="inv")), ("mum", "inv")),
        (encode_pending(PendingStart()), None),
        (encode_transient(Transient("node-a", "mum", "inv")), ("mum", "inv")),
        # a marker written before markers named the parent
        (json.dumps({"orchestrion": "transient", "node": "node-a"}), None),
        (json.dumps({"format": 1, "parent": "mum", "invokeid": "inv"}), ("mum", "inv")),
        (json.dumps({"format": 1, "parent": None, "invokeid": None}), None),
        ('{"format": 1, "parent": "mum", "inv', None),  # cut short
        ("[1, 2]", None),
        (json.dumps({"orchestrion": "start"}), None),
    ],
)
def test_invoked_by_reads_the_parent_from_every_record_form(
    text: str, expected: tuple[str, str] | None
) -> None:
    assert invoked_by(text) == expected
