"""Pseudonymised feedback for data scientists: ``feedback export --pseudonymise``.

The label corrections keep the post text, and a post text names people: ``@handles``
and links (profile URLs, order-tracking URLs with ids in them). A training set does
not need either to learn complaint intent, so the pseudonymised export

* replaces every ``@handle`` by ``@user_<hash>`` — an HMAC-SHA256 of the lower-cased
  handle under a secret salt: the same author is the same pseudonym throughout the
  export (the model still sees "an @-mention"), and without the salt the handle cannot
  be recovered by hashing candidate handles;
* drops every URL;
* replaces the record's ``id`` (the platform's post id) by ``p_<hash>`` of it, so
  records stay distinct and joinable across exports made with the same salt.

The salt comes from the environment and is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from pathlib import Path

from triage.feedback import FeedbackStore

SALT_ENV = "FEEDBACK_PSEUDONYM_SALT"
"""The environment variable ``feedback export --pseudonymise`` reads the salt from."""

MIN_SALT_CHARS = 16

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@([A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?(?:@[\w.-]+)?)")


def pseudonym(value: str, salt: str, *, length: int = 12) -> str:
    """HMAC-SHA256 of ``value`` under ``salt``, hex, shortened to ``length``."""
    return hmac.new(salt.encode(), value.encode(), hashlib.sha256).hexdigest()[:length]


def pseudonymise_text(text: str, salt: str) -> str:
    """The text with URLs dropped and each @handle replaced by its pseudonym.

    >>> pseudonymise_text("@KPNwebcare zie https://x.com/a/1", "s" * 16).startswith("@user_")
    True
    """
    without_urls = _URL.sub("", text)
    replaced = _HANDLE.sub(lambda m: f"@user_{pseudonym(m.group(1).lower(), salt)}", without_urls)
    return re.sub(r"[ \t]{2,}", " ", replaced).strip()


def pseudonymise_record(record: dict[str, object], salt: str) -> dict[str, object]:
    """A LABELS.md training record with its id, handles and URLs pseudonymised."""
    return {
        **record,
        "id": f"p_{pseudonym(str(record['id']), salt, length=16)}",
        "text": pseudonymise_text(str(record["text"]), salt),
    }


def export_pseudonymised(feedback: FeedbackStore, out: Path, salt: str) -> int:
    """:meth:`FeedbackStore.export`, each record pseudonymised; returns the count."""
    if len(salt) < MIN_SALT_CHARS:
        raise ValueError(f"the salt must have at least {MIN_SALT_CHARS} characters")
    out.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with out.open("w", encoding="utf-8") as handle:
        for correction in feedback.latest():
            record = pseudonymise_record(correction.training_record(), salt)
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
