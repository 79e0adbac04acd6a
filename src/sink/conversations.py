"""Conversations: an author's open posts about one brand, shown as one item of the queue.

A webcare agent answers a person, not a post. An author with ten unanswered complaints
would otherwise fill the top of the queue with ten cards, all at the 100 cap, hiding
everyone else. So the queue (the triage app and ``klachtradar top``) shows one item per
*(author id, main brand)*: its highest-ranked post on top, the others counted
(``also_open``) and listed under it.

Ranking: priority; within a priority, complaints the brand has not answered in public
before those it has (``ScoredPost.response`` set, still open: the customer heard
*something*, the one who heard nothing waits); then the capped 0–100 risk, then the
*raw* score before the cap (``risk.features["total"]``) — posts tied at 100 are not
equally urgent — then newest first. The answered step is ``[triage]
answered_below_unanswered`` (on by default); an answered complaint never leaves the
queue, it only moves down within its priority.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from klachtradar.contract import ScoredPost

ConversationKey = tuple[str, str]
"""``(author id, main brand)``."""
RankKey = tuple[str, bool, int, float, float]
"""(priority, publicly answered, -risk, -raw score, -created_at): smaller is more urgent."""


def raw_score(post: ScoredPost) -> float:
    """The score before the 0–100 cap (the plain score for posts scored without it)."""
    return float(post.risk.features.get("total", post.risk.score))


def rank_key(
    priority: str, risk: int, raw: float | None, created_ts: float, *, answered: bool = False
) -> RankKey:
    """Sort key of a post in the queue: smaller is more urgent.

    ``answered`` comes right after the priority, so it reorders posts *within* a
    priority and never lifts a P2 over a P1 or drops a P1 under a P2.

    >>> rank_key("P2", 60, 61.0, 0.0, answered=True) > rank_key("P2", 40, 40.0, 0.0)
    True
    >>> rank_key("P1", 60, 61.0, 0.0, answered=True) < rank_key("P2", 90, 90.0, 0.0)
    True
    """
    return (priority, answered, -risk, -(raw if raw is not None else float(risk)), -created_ts)


def post_rank(post: ScoredPost, *, answered_below_unanswered: bool = True) -> RankKey:
    """:func:`rank_key` of a stored post; its public response counts only when the
    queue puts answered complaints below unanswered ones."""
    return rank_key(
        post.risk.priority.value,
        post.risk.score,
        raw_score(post),
        post.post.created_at.timestamp(),
        answered=answered_below_unanswered and post.response is not None,
    )


def conversation_key(post: ScoredPost) -> ConversationKey:
    """The conversation a post belongs to: its author and its main brand."""
    return (post.post.author.id, post.brand_names[0] if post.brands else "")


@dataclass(frozen=True, slots=True)
class Conversation:
    """One queue item: the post on top and the author's other posts about the brand."""

    head: ScoredPost
    others: list[ScoredPost] = field(default_factory=list)
    """Newest first."""

    @property
    def also_open(self) -> int:
        return len(self.others)


def group_conversations(
    posts: Iterable[ScoredPost], *, answered_below_unanswered: bool = True
) -> list[Conversation]:
    """Group posts by conversation, the most urgent conversation first (:func:`post_rank`).

    A conversation whose complaint the brand answered but whose author complained again
    unanswered is headed by the unanswered post, and ranks as unanswered.
    """

    def rank(post: ScoredPost) -> RankKey:
        return post_rank(post, answered_below_unanswered=answered_below_unanswered)

    groups: dict[ConversationKey, list[ScoredPost]] = {}
    for post in posts:
        groups.setdefault(conversation_key(post), []).append(post)
    conversations = []
    for members in groups.values():
        members.sort(key=rank)
        head, rest = members[0], members[1:]
        rest.sort(key=lambda p: p.post.created_at, reverse=True)
        conversations.append(Conversation(head, rest))
    conversations.sort(key=lambda c: rank(c.head))
    return conversations
