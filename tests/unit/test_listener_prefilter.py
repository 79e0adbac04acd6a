"""The light brand prefilter: lets brand posts through, drops obvious non-matches."""

from __future__ import annotations

import pytest

from klachtradar.watchlist import Watchlist
from listener.prefilter import AcceptAll, BrandPrefilter

WATCHLIST = Watchlist.model_validate(
    {
        "brand": [
            {
                "name": "Odido",
                "aliases": ["odido", "t-mobile"],
                "handles": ["odido_nl"],
                "hashtag_prefixes": ["odido"],
            },
            {"name": "ING", "ambiguous": ["ing"], "handles": ["ingnl"]},
            {"name": "bol", "aliases": ["bol.com"]},
        ]
    }
)


@pytest.mark.parametrize(
    "text",
    [
        "Storing bij Odido alweer",
        "t-mobile doet het niet",
        "T Mobile doet het niet",
        "tmobile doet het niet",
        "@odido_nl waar blijft mijn monteur",
        "#odidostoring vandaag",
        "Betalen bij ING lukt niet",
        "besteld via bol.com",
    ],
)
def test_posts_naming_a_brand_pass(text: str) -> None:
    assert BrandPrefilter(WATCHLIST).matches(text)


@pytest.mark.parametrize(
    "text", ["Lange vergadering vandaag", "odidoo is geen merk", "bolletje wol", "mooi weer"]
)
def test_posts_without_a_brand_word_are_dropped(text: str) -> None:
    assert not BrandPrefilter(WATCHLIST).matches(text)


def test_mentions_and_hashtags_outside_the_text_count() -> None:
    prefilter = BrandPrefilter(WATCHLIST)
    assert prefilter.matches("kijk dit filmpje", ["#odidofail"])
    assert prefilter.matches("kijk dit filmpje", ["odido_nl"])


def test_accept_all_lets_everything_through() -> None:
    assert AcceptAll().matches("mooi weer")
