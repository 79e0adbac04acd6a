"""The triage card says when the brand answered a complaint in public."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.unit.test_triage_app import client_for
from tests.unit.triage_support import T0, fill_store, raw_post


def test_the_card_shows_the_public_response_time(tmp_path: Path) -> None:
    store = tmp_path / "kr.db"
    complaint = raw_post(
        "1",
        "@PostNL mijn pakket is nooit aangekomen, dit is echt slechte service!",
        handle="sanne_vd_berg",
        followers=900,
    )
    reply = raw_post(
        "2",
        "@sanne_vd_berg Hoi Sanne, vervelend! Stuur je ons een DM met je barcode? ^Jeroen",
        at=T0 + timedelta(minutes=25),
        handle="PostNL",
        followers=121_000,
    )
    fill_store(store, [complaint, reply])
    html = client_for(store).get("/?status=all").text
    assert "publiek beantwoord na 25 min door @PostNL" in html
    assert 'class="public-response"' in html
