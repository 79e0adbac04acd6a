"""SLA targets: how long a post may wait for an answer, per brand and priority.

A card is ``ok`` until it has used ``amber_fraction`` of its target, then ``amber``,
and ``red`` once the target has passed (a breach). A priority whose target is 0 has
no SLA and stays ``none``. The same rules count breaches for the header and the report,
so the colours an agent sees and the numbers management reads cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from klachtradar.contract import Priority
from klachtradar.settings import TriageSettings

SlaState = Literal["none", "ok", "amber", "red"]


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """Response targets per priority with per-brand overrides, in minutes."""

    default_minutes: dict[Priority, float]
    brand_minutes: dict[str, dict[Priority, float]]
    amber_fraction: float = 0.75

    @classmethod
    def from_settings(cls, settings: TriageSettings) -> SlaPolicy:
        return cls(
            default_minutes=dict(settings.sla_minutes),
            brand_minutes={b: dict(t) for b, t in settings.brand_sla_minutes.items()},
            amber_fraction=settings.amber_fraction,
        )

    def target(self, brand: str | None, priority: Priority) -> timedelta | None:
        """The response target, or None when this priority has none."""
        minutes = self.brand_minutes.get(brand or "", {}).get(priority)
        if minutes is None:
            minutes = self.default_minutes.get(priority, 0.0)
        return timedelta(minutes=minutes) if minutes > 0 else None

    def state(self, brand: str | None, priority: Priority, waited: timedelta) -> SlaState:
        """The colour of a card that has waited ``waited``."""
        target = self.target(brand, priority)
        if target is None:
            return "none"
        if waited >= target:
            return "red"
        if waited >= target * self.amber_fraction:
            return "amber"
        return "ok"

    def breached(
        self,
        brand: str | None,
        priority: Priority,
        created_at: datetime,
        responded_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Whether the answer came (or, still open, will come) after the target."""
        target = self.target(brand, priority)
        if target is None:
            return False
        end = responded_at if responded_at is not None else now
        return end - created_at > target
