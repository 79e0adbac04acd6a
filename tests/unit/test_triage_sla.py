"""SLA targets: colours and breaches per brand and priority."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from klachtradar.contract import Priority
from klachtradar.settings import TriageSettings
from triage.sla import SlaPolicy

POLICY = SlaPolicy.from_settings(
    TriageSettings(brand_sla_minutes={"Odido": {Priority.P1: 10}}, amber_fraction=0.5)
)


def test_default_targets_come_from_settings_per_priority() -> None:
    assert POLICY.target("KPN", Priority.P1) == timedelta(minutes=15)
    assert POLICY.target("KPN", Priority.P2) == timedelta(hours=1)


def test_a_brand_override_replaces_only_its_priority() -> None:
    assert POLICY.target("Odido", Priority.P1) == timedelta(minutes=10)
    assert POLICY.target("Odido", Priority.P2) == timedelta(hours=1)


def test_zero_minutes_means_no_target_and_no_colour() -> None:
    assert POLICY.target("KPN", Priority.P4) is None
    assert POLICY.state("KPN", Priority.P4, timedelta(days=30)) == "none"


def test_card_turns_amber_near_and_red_after_the_target() -> None:
    assert POLICY.state("KPN", Priority.P1, timedelta(minutes=7)) == "ok"
    assert POLICY.state("KPN", Priority.P1, timedelta(minutes=8)) == "amber"
    assert POLICY.state("KPN", Priority.P1, timedelta(minutes=15)) == "red"


def test_breach_uses_the_answer_time_when_answered_and_now_when_open() -> None:
    created = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
    now = created + timedelta(hours=5)
    on_time = created + timedelta(minutes=14)
    assert not POLICY.breached("KPN", Priority.P1, created, on_time, now)
    assert POLICY.breached("KPN", Priority.P1, created, None, now)
    assert POLICY.breached("Odido", Priority.P1, created, on_time, now)
