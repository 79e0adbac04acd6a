"""Find watchlist brands in a post: aliases, @-handles and #hashtags.

The hard part is what must *not* match: "ing" in "vergadering", "Jumbo" in
"jumbo-jet", "Essent" in "essentieel", "Ziggo" in "Ziggo Dome". So:

* aliases match whole words only (a hyphenated continuation like "jumbo-jet" is
  part of the word), with hyphen/space/nothing interchangeable inside an alias
  ("t-mobile" = "T Mobile" = "tmobile");
* ambiguous aliases ("ing", "ns", "bol", "ah", "jumbo") count only in the brand's
  usual spelling ("ING", "NS") or with a context word in the same post ("pinnen",
  "trein"); in an all-caps post spelling says nothing, so context is required;
* ``exclude`` phrases are blanked out before that brand is matched;
* handles and hashtags match whole (plus configured hashtag prefixes, #kpnstoring).

:class:`BrandMatcher` reloads its watchlist when the file changes on disk.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from klachtradar.contract import BrandMention, RawPost
from klachtradar.watchlist import BrandSpec, Watchlist, load_watchlist

_HANDLE = re.compile(r"(?<![\w@])@(\w{1,50})")
_HASHTAG = re.compile(r"(?<![\w#&])#(\w{1,100})")
_URL = re.compile(r"https?://\S+|www\.\S+")
_CONTEXT_WORD = re.compile(r"[\w-]+")


def _alias_regex(alias: str) -> str:
    parts = [re.escape(p) for p in re.split(r"[-\s]+", alias) if p]
    return r"[-\s]?".join(parts)


def _word_pattern(aliases: Iterable[str], *, flags: int = 0) -> re.Pattern[str] | None:
    """Whole-word alternation: not inside a word, a handle, a hashtag or a hyphen compound."""
    alternatives = sorted({_alias_regex(a) for a in aliases if a}, key=len, reverse=True)
    if not alternatives:
        return None
    body = "|".join(alternatives)
    return re.compile(rf"(?<![\w@#/.])(?<!\w-)(?:{body})(?!\w|-\w)", flags)


@dataclass(frozen=True, slots=True)
class _CompiledBrand:
    spec: BrandSpec
    aliases: re.Pattern[str] | None
    ambiguous: re.Pattern[str] | None
    ambiguous_case: re.Pattern[str] | None
    excludes: re.Pattern[str] | None
    context: frozenset[str]
    handles: frozenset[str]
    hashtags: frozenset[str]
    hashtag_prefixes: tuple[str, ...]

    @classmethod
    def build(cls, spec: BrandSpec) -> _CompiledBrand:
        exclude = sorted(spec.exclude, key=len, reverse=True)
        return cls(
            spec=spec,
            aliases=_word_pattern(spec.aliases, flags=re.IGNORECASE),
            ambiguous=_word_pattern(spec.ambiguous, flags=re.IGNORECASE),
            ambiguous_case=_word_pattern(spec.ambiguous_case),
            excludes=(
                re.compile("|".join(_alias_regex(e) for e in exclude), re.IGNORECASE)
                if exclude
                else None
            ),
            context=frozenset(spec.context),
            handles=frozenset(spec.handles),
            hashtags=frozenset(spec.hashtags),
            hashtag_prefixes=tuple(spec.hashtag_prefixes),
        )


class BrandMatcher:
    """Matches a watchlist against post text; see the module docstring for the rules.

    >>> from klachtradar.watchlist import Watchlist
    >>> wl = Watchlist.model_validate({"brand": [{"name": "ING", "ambiguous": ["ing"],
    ...     "ambiguous_case": ["ING"], "context": ["pinnen"]}]})
    >>> [m.brand for m in BrandMatcher(wl).match_text("Vergadering bij ING uitgelopen")]
    ['ING']
    >>> BrandMatcher(wl).match_text("lange vergadering vandaag")
    []
    """

    def __init__(self, watchlist: Watchlist, *, path: Path | None = None) -> None:
        self._path = path
        self._mtime = path.stat().st_mtime_ns if path is not None else None
        self._install(watchlist)

    @classmethod
    def from_file(cls, path: Path) -> BrandMatcher:
        """A matcher that re-reads ``path`` when it changes (see :meth:`reload_if_changed`)."""
        return cls(load_watchlist(path), path=path)

    def _install(self, watchlist: Watchlist) -> None:
        self.watchlist = watchlist
        self._brands = [_CompiledBrand.build(spec) for spec in watchlist.brands]
        self._handle_index = {h: b for b in self._brands for h in b.handles}
        self._hashtag_index = {t: b for b in self._brands for t in b.hashtags}

    def reload_if_changed(self) -> bool:
        """Re-read the watchlist file if it changed; True when it did. Errors keep the old one."""
        if self._path is None:
            return False
        mtime = self._path.stat().st_mtime_ns
        if mtime == self._mtime:
            return False
        self._install(load_watchlist(self._path))
        self._mtime = mtime
        return True

    def match(self, post: RawPost) -> list[BrandMention]:
        """Brands in a post's text and its mention/hashtag lists, first occurrence first."""
        mentions = self.match_text(post.text)
        seen = {m.brand for m in mentions}
        for handle in post.mentions:
            brand = self._handle_index.get(handle.lower().removeprefix("@"))
            if brand is not None and brand.spec.name not in seen:
                seen.add(brand.spec.name)
                mentions.append(
                    BrandMention(brand=brand.spec.name, matched=f"@{handle}", kind="handle")
                )
        for tag in post.hashtags:
            brand = self._brand_for_hashtag(tag.lower().removeprefix("#"))
            if brand is not None and brand.spec.name not in seen:
                seen.add(brand.spec.name)
                mentions.append(
                    BrandMention(brand=brand.spec.name, matched=f"#{tag}", kind="hashtag")
                )
        return mentions

    def match_text(self, text: str) -> list[BrandMention]:
        """Brands mentioned in ``text``, ordered by first occurrence, one mention each."""
        text = _URL.sub(" ", text)
        found: dict[str, tuple[int, BrandMention]] = {}

        def add(position: int, mention: BrandMention) -> None:
            current = found.get(mention.brand)
            if current is None or position < current[0]:
                found[mention.brand] = (position, mention)

        for m in _HANDLE.finditer(text):
            brand = self._handle_index.get(m.group(1).lower())
            if brand is not None:
                add(
                    m.start(), BrandMention(brand=brand.spec.name, matched=m.group(), kind="handle")
                )
        for m in _HASHTAG.finditer(text):
            brand = self._brand_for_hashtag(m.group(1).lower())
            if brand is not None:
                add(
                    m.start(),
                    BrandMention(brand=brand.spec.name, matched=m.group(), kind="hashtag"),
                )
        shouting = _mostly_upper(text)
        words = frozenset(_CONTEXT_WORD.findall(text.lower()))
        for brand in self._brands:
            hit = _match_alias(brand, text, shouting=shouting, words=words)
            if hit is not None:
                add(hit.start(), _alias_mention(brand, hit))
        return [mention for _, mention in sorted(found.values(), key=lambda pm: pm[0])]

    def _brand_for_hashtag(self, tag: str) -> _CompiledBrand | None:
        brand = self._hashtag_index.get(tag)
        if brand is not None:
            return brand
        for candidate in self._brands:
            if any(tag.startswith(p) for p in candidate.hashtag_prefixes):
                return candidate
        return None


def _match_alias(
    brand: _CompiledBrand, text: str, *, shouting: bool, words: frozenset[str]
) -> re.Match[str] | None:
    """The first alias hit for one brand, honouring exclusions and ambiguity rules."""
    scan = text
    if brand.excludes is not None:
        scan = brand.excludes.sub(lambda x: " " * len(x.group()), text)
    if brand.aliases is not None and (hit := brand.aliases.search(scan)):
        return hit
    if brand.ambiguous is None:
        return None
    if not shouting and brand.ambiguous_case is not None:
        hit = brand.ambiguous_case.search(scan)
        if hit is not None:
            return hit
    hit = brand.ambiguous.search(scan)
    if hit is not None and brand.context & words:
        return hit
    return None


def _alias_mention(brand: _CompiledBrand, match: re.Match[str]) -> BrandMention:
    return BrandMention(brand=brand.spec.name, matched=match.group(), kind="alias")


def _mostly_upper(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if len(letters) < 12:
        return False
    return sum(c.isupper() for c in letters) / len(letters) > 0.6
