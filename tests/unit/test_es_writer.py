"""How the bulk writer reads per-item results and backs off (the server part is integration)."""

from __future__ import annotations

import random

import pytest

from sink.es.writer import BulkAction, Outcome, RetryPolicy, classify, reason_of


@pytest.mark.parametrize(
    ("status", "op", "outcome"),
    [
        (200, "update", Outcome.ACCEPTED),
        (201, "create", Outcome.ACCEPTED),
        (409, "create", Outcome.ACCEPTED),  # an alert that is already there
        (409, "update", Outcome.RETRY),  # a version conflict: try again
        (429, "update", Outcome.RETRY),
        (500, "update", Outcome.RETRY),
        (503, "update", Outcome.RETRY),
        ("N/A", "update", Outcome.RETRY),  # no answer at all
        (400, "update", Outcome.REJECTED),  # mapping / parsing: the document is wrong
        (404, "update", Outcome.REJECTED),
        (401, "update", Outcome.FATAL),
        (403, "update", Outcome.FATAL),
    ],
)
def test_classify(status: int | str, op: str, outcome: Outcome) -> None:
    assert classify(status, None, op) is outcome


def test_reason_names_the_error_and_its_cause() -> None:
    error = {
        "type": "document_parsing_exception",
        "reason": "failed to parse field [author]",
        "caused_by": {"type": "illegal_argument_exception", "reason": "not a number"},
    }
    assert reason_of(error) == (
        "document_parsing_exception: failed to parse field [author] "
        "(caused by illegal_argument_exception: not a number)"
    )


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    policy, rng = RetryPolicy(max_retries=8, initial_s=0.5, max_s=4.0), random.Random(7)
    for round_, base in enumerate([0.5, 1.0, 2.0, 4.0, 4.0]):
        delay = policy.delay(round_, rng)
        assert 0.5 * base <= delay <= 1.5 * base


def test_update_actions_carry_retry_on_conflict_and_their_body() -> None:
    action = BulkAction("update", "i", "x:1", {"script": {"source": "s"}, "upsert": {"a": 1}})
    assert action.as_bulk() == {
        "_op_type": "update",
        "_index": "i",
        "_id": "x:1",
        "retry_on_conflict": 3,
        "script": {"source": "s"},
        "upsert": {"a": 1},
    }
    assert BulkAction("create", "a", "1", {"k": 1}).as_bulk()["_source"] == {"k": 1}
