"""What one platform payload turned out to be, for sources and for ``klachtradar normalise``.

Every source reads payloads that are not posts: heartbeats, identity and account events,
boosts, likes, stream errors. A source drops them silently; ``normalise`` (replaying a
recording) must say why, so an operator can check a recording's every line. The
per-platform interpreters (``x_compliance.interpret_line``, ``bluesky_post.interpret_event``,
``mastodon.interpret_event``) return a :data:`Outcome`: a post, a delete, a dead letter or
a :class:`Skip` with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from klachtradar.contract import DeadLetter, DeletedPost, RawPost


@dataclass(frozen=True, slots=True)
class Skip:
    """A payload that is neither a post nor a delete, and why (``heartbeat``, ``boost`` …)."""

    reason: str


Outcome = RawPost | DeletedPost | DeadLetter | Skip
