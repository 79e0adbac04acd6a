"""Conversations: a brand's own replies linked to the complaints they answer.

Webcare answers in public, on the platform, often from tools other than ours; until
now a complaint counted as answered only when an agent pressed "resolve". A post by one
of a brand's own handles (the watchlist's ``handles``) is a *brand reply*, not a
mention, and this module keeps the state that links it:

1. **Platform reply id first.** A reply whose ``reply_to`` names a post answers that post.
2. **Else the complainant's handle.** A reply that starts with ``@handle`` answers that
   author's latest complaint about the brand, if it came within ``window`` before.

Every post of a conversation carries one ``thread_id``: the doc id of the complaint that
opened it (a reply's platform root when we never saw the complaint). A complaint's first
brand reply is its public response (``responded_at``, ``first_response_minutes``);
a complaint by the same author *after* a reply, within the window, is "beantwoord, niet
opgelost".

Like :class:`enrich.history.AuthorHistory` this is explicit state handed in by the
pipeline; scoring stays a function of the batch plus this state. Re-delivery is safe:
a reply seen before keeps the link it got the first time and answers nothing again.
The state follows event time (``created_at``), so a replay links as the live stream did.

Memory: a held complaint is kept as its compressed JSON (about 0.7 KB instead of the
8.6 KB of a live :class:`ScoredPost`) and decoded only when a reply answers it, and at
most ``max_complaints`` are held (the oldest go first). At a busy brand's rate two
windows of complaints are hundreds of thousands of posts: without both, the state grew
with traffic until the process outgrew its memory.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from klachtradar.contract import BrandReply, PublicResponse, RawPost, ScoredPost, doc_id

_LEADING_HANDLE = re.compile(r"^\s*(?:\.\s*)?@([A-Za-z0-9_.]{1,64})")
"""``@sanne_vd_berg Hoi Sanne…`` (and the old ``.@handle`` trick for a public reply)."""


def leading_handle(text: str) -> str | None:
    """The handle a post starts with, lower-case, without '@' (None if it starts otherwise).

    >>> leading_handle("@Sanne_vd_Berg Hoi Sanne!")
    'sanne_vd_berg'
    """
    match = _LEADING_HANDLE.match(text)
    return match.group(1).rstrip(".").lower() if match else None


@dataclass(frozen=True, slots=True)
class ReplyLink:
    """What a brand reply answers, as decided when it first arrived."""

    in_reply_to: str | None
    linked_by: str | None
    thread_id: str | None
    complaint: ScoredPost | None
    """The answered complaint as last scored, when we hold it (None: only its doc id)."""
    first_response: bool
    redelivered: bool = False
    """Seen before: it keeps its first link and answers nothing again."""


@dataclass(frozen=True, slots=True)
class _HeldComplaint:
    """A complaint as last scored, compressed: what a later reply needs to re-score it."""

    created_at: datetime
    packed: bytes

    @classmethod
    def of(cls, scored: ScoredPost) -> _HeldComplaint:
        return cls(scored.post.created_at, zlib.compress(scored.model_dump_json().encode(), 1))

    def scored(self) -> ScoredPost:
        return ScoredPost.model_validate_json(zlib.decompress(self.packed))


@dataclass(slots=True)
class _Thread:
    thread_id: str
    last_at: datetime


@dataclass
class ThreadTracker:
    """Complaints, threads and brand replies within a sliding window of event time."""

    window: timedelta = timedelta(hours=48)
    max_complaints: int = 100_000
    """Held complaints at most; past it the oldest held is forgotten (replies to it
    then link by reply id without re-scoring it, or not at all by handle)."""
    _complaints: dict[str, _HeldComplaint] = field(default_factory=dict)
    _by_handle: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    _threads: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    """doc id → (thread id, post time), for every post of a conversation."""
    _active: dict[tuple[str, str], _Thread] = field(default_factory=dict)
    """(author id, brand) → the author's current conversation with the brand."""
    _last_reply: dict[tuple[str, str], PublicResponse] = field(default_factory=dict)
    _responses: dict[str, PublicResponse] = field(default_factory=dict)
    _links: dict[str, ReplyLink] = field(default_factory=dict)
    _pruned_at: datetime | None = None

    # -- the customer's side -------------------------------------------------------------

    def thread_of_post(self, post: RawPost, brand: str | None, complaint: bool) -> str | None:
        """The conversation a customer's post belongs to (None: it is in none).

        Its platform parent's thread first; else the author's open conversation with the
        brand (last activity within the window); else a complaint opens its own.
        """
        known = self._threads.get(post.doc_id)
        if known is not None:
            return known[0]
        if post.reply_to is not None:
            parent = self._threads.get(doc_id(post.source, post.reply_to))
            if parent is not None:
                return parent[0]
        if brand is not None:
            active = self._active.get((post.author.id, brand))
            if active is not None and self._within(active.last_at, post.created_at):
                return active.thread_id
        return post.doc_id if complaint else None

    def remember_post(self, scored: ScoredPost, *, complaint: bool) -> None:
        """Keep a scored customer post: its thread, and (a complaint) for replies to link."""
        post = scored.post
        if scored.thread_id is None:
            return
        self._threads[scored.doc_id] = (scored.thread_id, post.created_at)
        brand = scored.brand_names[0] if scored.brands else None
        if brand is not None:
            self._touch((post.author.id, brand), scored.thread_id, post.created_at)
        if not complaint:
            return
        first = scored.doc_id not in self._complaints
        self._complaints[scored.doc_id] = _HeldComplaint.of(scored)
        if first:
            self._evict_beyond_cap()
            for mention in scored.brand_names:
                key = (post.author.handle.lower(), mention)
                self._by_handle.setdefault(key, []).append(scored.doc_id)

    def response_of(self, doc: str) -> PublicResponse | None:
        """The public response a complaint already got (kept across re-scoring)."""
        return self._responses.get(doc)

    def last_reply(self, author_id: str, brand: str, before: datetime) -> PublicResponse | None:
        """The brand's latest public reply to this author before ``before``, in the window."""
        reply = self._last_reply.get((author_id, brand))
        if reply is None or reply.responded_at > before:
            return None
        return reply if self._within(reply.responded_at, before) else None

    # -- the brand's side ----------------------------------------------------------------

    def link_reply(self, post: RawPost, brand: str) -> ReplyLink:
        """What a brand reply answers; a re-delivered reply gets its first link again."""
        seen = self._links.get(post.doc_id)
        if seen is not None:
            return ReplyLink(
                seen.in_reply_to,
                seen.linked_by,
                seen.thread_id,
                seen.complaint,
                seen.first_response,
                redelivered=True,
            )
        target, linked_by = self._target(post, brand)
        held = self._complaints.get(target) if target is not None else None
        complaint = held.scored() if held is not None else None
        thread = target
        if target is not None and target in self._threads:
            thread = self._threads[target][0]
        link = ReplyLink(
            in_reply_to=target,
            linked_by=linked_by,
            thread_id=thread,
            complaint=complaint,
            first_response=complaint is not None and target not in self._responses,
        )
        self._links[post.doc_id] = link
        if thread is not None:
            self._threads[post.doc_id] = (thread, post.created_at)
        return link

    def answered(self, link: ReplyLink, reply: RawPost, brand: str) -> PublicResponse | None:
        """Record a (new) reply to a held complaint; its public response if it was the first."""
        complaint = link.complaint
        if complaint is None or link.redelivered:
            return None
        minutes = max(0.0, (reply.created_at - complaint.post.created_at).total_seconds() / 60)
        response = PublicResponse(
            responded_at=reply.created_at,
            first_response_minutes=round(minutes, 1),
            by=reply.author.handle,
            reply_doc_id=reply.doc_id,
        )
        key = (complaint.post.author.id, brand)
        last = self._last_reply.get(key)
        if last is None or last.responded_at <= reply.created_at:
            self._last_reply[key] = response
        if link.thread_id is not None:
            self._touch(key, link.thread_id, reply.created_at)
        if not link.first_response:
            return None
        self._responses[complaint.doc_id] = response
        return response

    def update_complaint(self, scored: ScoredPost) -> None:
        """Keep the re-scored copy of an answered complaint (for later replies)."""
        if scored.doc_id in self._complaints:
            self._complaints[scored.doc_id] = _HeldComplaint.of(scored)

    def held_complaints(self) -> int:
        """How many complaints a reply could still answer (bounded by ``max_complaints``)."""
        return len(self._complaints)

    # -- housekeeping --------------------------------------------------------------------

    def prune_if_due(self, now: datetime, *, every: timedelta = timedelta(hours=1)) -> int:
        """Forget what left the window (event time), at most once per ``every``."""
        if self._pruned_at is not None and now - self._pruned_at < every:
            return 0
        self._pruned_at = now
        return self.prune(now)

    def prune(self, now: datetime) -> int:
        """Drop complaints, threads and replies older than twice the window.

        Twice: a complaint answered late in its window can still be followed by a
        complaint "beantwoord, niet opgelost" one window after the reply.
        """
        cutoff = now - 2 * self.window
        old = [d for d, (_, at) in self._threads.items() if at < cutoff]
        for doc in old:
            self._threads.pop(doc, None)
            self._links.pop(doc, None)
        gone = {d for d, c in self._complaints.items() if c.created_at < cutoff}
        for doc in gone:
            del self._complaints[doc]
            self._responses.pop(doc, None)
        for key in list(self._by_handle):
            kept = [d for d in self._by_handle[key] if d in self._complaints]
            if kept:
                self._by_handle[key] = kept
            else:
                del self._by_handle[key]
        for key in [k for k, t in self._active.items() if t.last_at < cutoff]:
            del self._active[key]
        for key in [k for k, r in self._last_reply.items() if r.responded_at < cutoff]:
            del self._last_reply[key]
        return len(old) + len(gone)

    def forget(self, doc_ids: list[str]) -> None:
        """Deleted posts leave the conversations (a deleted complaint answers nothing)."""
        for doc in doc_ids:
            self._complaints.pop(doc, None)
            self._threads.pop(doc, None)
            self._responses.pop(doc, None)

    def _target(self, post: RawPost, brand: str) -> tuple[str | None, str | None]:
        if post.reply_to is not None:
            return doc_id(post.source, post.reply_to), "reply_id"
        handle = leading_handle(post.text)
        if handle is None:
            return None, None
        for doc in reversed(self._by_handle.get((handle, brand), [])):
            complaint = self._complaints.get(doc)
            if complaint is None:
                continue
            at = complaint.created_at
            if at <= post.created_at and self._within(at, post.created_at):
                return doc, "handle"
            if at <= post.created_at:
                break  # older ones are further outside the window
        return None, None

    def _evict_beyond_cap(self) -> None:
        """Forget the oldest held complaints (insertion order) past ``max_complaints``.

        Their ``_by_handle`` entries stay until the next prune (a handle lookup skips a
        doc id that is no longer held); a public response already given is kept, small,
        until it leaves the window, so a re-scored copy still shows it.
        """
        while len(self._complaints) > self.max_complaints:
            oldest = next(iter(self._complaints))
            del self._complaints[oldest]

    def _touch(self, key: tuple[str, str], thread_id: str, at: datetime) -> None:
        active = self._active.get(key)
        if active is None or active.thread_id != thread_id or active.last_at < at:
            self._active[key] = _Thread(thread_id, max(at, active.last_at) if active else at)

    def _within(self, earlier: datetime, later: datetime) -> bool:
        return later - earlier <= self.window


def reply_record(link: ReplyLink, post: RawPost, brand: str) -> BrandReply:
    """The :class:`BrandReply` of a linked reply (tone is added by the caller)."""
    complaint = link.complaint
    minutes = None
    if complaint is not None:
        seconds = (post.created_at - complaint.post.created_at).total_seconds()
        minutes = round(max(0.0, seconds / 60), 1)
    return BrandReply(
        brand=brand,
        handle=post.author.handle,
        in_reply_to=link.in_reply_to,
        linked_by=link.linked_by,
        to_handle=complaint.post.author.handle if complaint else leading_handle(post.text),
        to_followers=complaint.post.author.followers if complaint else None,
        response_minutes=minutes,
        first_response=link.first_response,
    )
