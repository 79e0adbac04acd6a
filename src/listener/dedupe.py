"""Bounded memory of ids already published, so overlaps and backfills never duplicate."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable


class RecentIds:
    """The last ``capacity`` ids seen, oldest forgotten first.

    Reconnect overlaps (Jetstream cursor rewind, X recent-search backfill, Mastodon
    timeline backfill) re-send posts seen moments ago; this catches them cheaply.
    Downstream sinks are idempotent anyway; this keeps the stream itself clean.
    """

    def __init__(self, capacity: int = 50_000, initial: Iterable[str] = ()) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        for value in initial:
            self.add(value)

    def add(self, value: str) -> bool:
        """Remember ``value``; True when it is new, False when it was seen before."""
        if value in self._ids:
            self._ids.move_to_end(value)
            return False
        self._ids[value] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, value: object) -> bool:
        return value in self._ids

    def __len__(self) -> int:
        return len(self._ids)
