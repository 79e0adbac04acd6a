"""X stream rules from the watchlist, and the sync plan."""

from __future__ import annotations

from klachtradar.watchlist import Watchlist
from listener.x_rules import Rule, build_rules, plan_sync

WATCHLIST = Watchlist.model_validate(
    {
        "brand": [
            {
                "name": "Odido",
                "aliases": ["odido", "t-mobile", "t mobile"],
                "handles": ["odido_nl"],
                "hashtags": ["odido"],
            },
            {"name": "NS", "ambiguous": ["ns"], "handles": ["ns_online"]},
        ]
    }
)


def test_one_rule_per_brand_with_quoted_phrases_language_and_no_retweets() -> None:
    rules = build_rules(WATCHLIST, languages=["nl"])
    assert rules[0] == Rule(
        '(odido OR "t-mobile" OR "t mobile" OR @odido_nl OR #odido) lang:nl -is:retweet',
        "klachtradar:Odido",
    )


def test_ambiguous_words_stay_out_of_the_rules() -> None:
    rules = build_rules(WATCHLIST, languages=["nl"])
    assert rules[1].value == "@ns_online lang:nl -is:retweet"


def test_a_brand_too_long_for_one_rule_is_split_under_the_limit() -> None:
    many = Watchlist.model_validate(
        {"brand": [{"name": "Big", "aliases": [f"merknaam{i}" for i in range(60)]}]}
    )
    rules = build_rules(many, languages=["nl", "en"], max_length=120)
    assert len(rules) > 1
    assert all(len(r.value) <= 120 and r.tag == "klachtradar:Big" for r in rules)
    assert all(r.value.endswith("(lang:nl OR lang:en) -is:retweet") for r in rules)
    terms = " ".join(r.value for r in rules)
    assert all(f"merknaam{i} " in terms or f"merknaam{i})" in terms for i in range(60))


def test_sync_adds_missing_deletes_our_stale_rules_and_keeps_the_rest() -> None:
    desired = [Rule("a lang:nl", "klachtradar:A"), Rule("b lang:nl", "klachtradar:B")]
    current = [
        {"id": "1", "value": "a lang:nl", "tag": "klachtradar:A"},
        {"id": "2", "value": "old lang:nl", "tag": "klachtradar:Old"},
        {"id": "3", "value": "theirs", "tag": "marketing"},
    ]
    missing, stale, kept = plan_sync(current, desired, "klachtradar:")
    assert missing == [desired[1]]
    assert stale == ["2"]
    assert kept == 1
