"""Conversations: an author's open posts about one brand, shown as one item of the queue.

A webcare agent answers a person, not a post. An author with ten unanswered complaints
would otherwise fill the top of the queue with ten cards, all at the 100 cap, hiding
everyone else. So the queue (the triage app and ``klachtradar top``) shows one item per
*(author id, main brand)*: its highest-ranked post on top, the others counted
(``also_open``) and listed under it.

Ranking: priority, then the capped 0–100 risk, then the *raw* score before the cap
(``risk.features["total"]``) — posts tied at 100 are not equally urgent — then newest
first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from klachtradar.contract import ScoredPost

ConversationKey = tuple[str, str]
"""``(author id, main brand)``."""


def raw_score(post: ScoredPost) -> float:
    """The score before the 0–100 cap (the plain score for posts scored without it)."""
    return float(post.risk.features.get("total", post.risk.score))


def rank_key(
    priority: str, risk: int, raw: float | None, created_ts: float
) -> tuple[str, int, float, float]:
    """Sort key of a post in the queue: smaller is more urgent."""
    return (priority, -risk, -(raw if raw is not None else float(risk)), -created_ts)


def post_rank(post: ScoredPost) -> tuple[str, int, float, float]:
    """:func:`rank_key` of a stored post."""
    return rank_key(
        post.risk.priority.value,
        post.risk.score,
        raw_score(post),
        post.post.created_at.timestamp(),
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


def group_conversations(posts: Iterable[ScoredPost]) -> list[Conversation]:
    """Group posts by conversation, the most urgent conversation first."""
    groups: dict[ConversationKey, list[ScoredPost]] = {}
    for post in posts:
        groups.setdefault(conversation_key(post), []).append(post)
    conversations = []
    for members in groups.values():
        members.sort(key=post_rank)
        head, rest = members[0], members[1:]
        rest.sort(key=lambda p: p.post.created_at, reverse=True)
        conversations.append(Conversation(head, rest))
    conversations.sort(key=lambda c: post_rank(c.head))
    return conversations
