"""A light brand prefilter: drop posts that cannot be about any watchlist brand.

Jetstream has no keyword filter and a Mastodon public stream carries everything, so
the listener throws away the obvious non-matches before publishing. This is a
*prefilter*: it errs on the side of letting a post through ("ing" in "ING" and in
"ing." alike). Precise matching (ambiguous words, context words, excludes such as
"Ziggo Dome") is enrichment's job, downstream.

A post passes when its text (or its mention/hashtag lists) contains, as a whole word
and case-insensitively, a brand name, alias, ambiguous alias, handle or hashtag, or a
hashtag starting with a configured prefix (#kpnstoring).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from klachtradar.watchlist import Watchlist


def _alias_regex(term: str) -> str:
    """Hyphens, spaces and nothing are interchangeable inside a term (t-mobile, t mobile)."""
    parts = [re.escape(p) for p in re.split(r"[-\s]+", term) if p]
    return r"[-\s]?".join(parts)


class BrandPrefilter:
    """Compiled once from a watchlist; :meth:`matches` is one regex search.

    >>> wl = Watchlist.model_validate({"brand": [{"name": "Odido", "aliases": ["t-mobile"],
    ...     "hashtag_prefixes": ["odido"]}]})
    >>> pf = BrandPrefilter(wl)
    >>> pf.matches("Storing bij T Mobile"), pf.matches("#odidostoring"), pf.matches("hallo")
    (True, True, False)
    """

    def __init__(self, watchlist: Watchlist) -> None:
        words: set[str] = set()
        prefixes: set[str] = set()
        for brand in watchlist.brands:
            words.add(brand.name.lower())
            words.update(brand.aliases, brand.ambiguous, brand.handles, brand.hashtags)
            prefixes.update(brand.hashtag_prefixes)
        alternatives = sorted({_alias_regex(w) for w in words if w}, key=len, reverse=True)
        parts = []
        if alternatives:
            parts.append(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)")
        if prefixes:
            body = "|".join(sorted(re.escape(p) for p in prefixes))
            parts.append(rf"#(?:{body})\w*")
        self._pattern = re.compile("|".join(parts) or r"(?!)", re.IGNORECASE)

    def matches(self, text: str, extra: Iterable[str] = ()) -> bool:
        """True when ``text`` or any of ``extra`` (handles, tags) may name a brand."""
        if self._pattern.search(text) is not None:
            return True
        return any(self._pattern.search(term) is not None for term in extra)


class AcceptAll:
    """The prefilter when ``[listen] prefilter = false``: everything passes."""

    def matches(self, text: str, extra: Iterable[str] = ()) -> bool:
        return True
