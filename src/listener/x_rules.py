"""X filtered-stream rules from the brand watchlist, and their sync on start.

One rule per brand (split when it would exceed the rule length limit), tagged
``{tag_prefix}{brand}``::

    (kpn OR @kpn OR @kpnwebcare OR #kpn) lang:nl -is:retweet

Ambiguous aliases ("ns", "ing", "ah") stay out of the rules: on X they would spend
the post quota on "vergadering" and "ah, jammer". Handles and hashtags keep those
brands covered; enrichment matches precisely afterwards.

Sync (:func:`sync_rules`) makes the server's rules with our tag prefix equal to the
desired set: add the missing ones, delete the stale ones, leave other tools' rules
(other tags) alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from klachtradar.watchlist import BrandSpec, Watchlist

_BARE = re.compile(r"^[\w.]+$")


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule value and its tag (the id is the server's)."""

    value: str
    tag: str


def _term(alias: str) -> str:
    return alias if _BARE.match(alias) else f'"{alias}"'


def brand_terms(brand: BrandSpec) -> list[str]:
    """Search terms of one brand: unambiguous aliases, @handles, #hashtags."""
    terms = [_term(a) for a in brand.aliases]
    terms += [f"@{h}" for h in brand.handles]
    terms += [f"#{t}" for t in brand.hashtags]
    return list(dict.fromkeys(terms))


def build_rules(
    watchlist: Watchlist,
    *,
    languages: list[str],
    tag_prefix: str = "klachtradar:",
    max_length: int = 512,
) -> list[Rule]:
    """The desired rules, each at most ``max_length`` characters."""
    suffix = ""
    if languages:
        langs = [f"lang:{lang}" for lang in languages]
        suffix += " " + (langs[0] if len(langs) == 1 else f"({' OR '.join(langs)})")
    suffix += " -is:retweet"
    rules: list[Rule] = []
    for brand in watchlist.brands:
        group: list[str] = []
        for term in brand_terms(brand):
            candidate = [*group, term]
            if group and len(f"({' OR '.join(candidate)}){suffix}") > max_length:
                rules.append(_rule(group, suffix, f"{tag_prefix}{brand.name}"))
                group = [term]
            else:
                group = candidate
        if group:
            rules.append(_rule(group, suffix, f"{tag_prefix}{brand.name}"))
    return rules


def _rule(terms: list[str], suffix: str, tag: str) -> Rule:
    body = terms[0] if len(terms) == 1 else f"({' OR '.join(terms)})"
    return Rule(value=f"{body}{suffix}", tag=tag)


@dataclass(frozen=True, slots=True)
class RuleSync:
    """What a sync changed."""

    added: list[Rule]
    deleted_ids: list[str]
    kept: int


def plan_sync(
    current: list[dict[str, Any]], desired: list[Rule], tag_prefix: str
) -> tuple[list[Rule], list[str], int]:
    """(rules to add, rule ids to delete, rules kept); only our tag prefix is touched."""
    ours = [r for r in current if str(r.get("tag", "")).startswith(tag_prefix)]
    wanted = set(desired)
    present = {Rule(str(r["value"]), str(r.get("tag", ""))) for r in ours}
    stale = [
        str(r["id"]) for r in ours if Rule(str(r["value"]), str(r.get("tag", ""))) not in wanted
    ]
    missing = [r for r in desired if r not in present]
    return missing, stale, len(ours) - len(stale)


def sync_rules(streaming_client: Any, desired: list[Rule], tag_prefix: str) -> RuleSync:
    """Make the server's rules match ``desired`` through tweepy's StreamingClient.

    ``streaming_client`` is a ``tweepy.StreamingClient`` created with ``return_type=dict``.
    """
    import tweepy

    current = (streaming_client.get_rules() or {}).get("data") or []
    missing, stale, kept = plan_sync(current, desired, tag_prefix)
    if stale:
        streaming_client.delete_rules(stale)
    if missing:
        streaming_client.add_rules([tweepy.StreamRule(value=r.value, tag=r.tag) for r in missing])
    return RuleSync(added=missing, deleted_ids=stale, kept=kept)
