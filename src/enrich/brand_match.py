"""Find watchlist brands in a post: aliases, @-handles and #hashtags, on tokens.

The hard part is what must *not* match: "ing" in "vergadering", "Jumbo" in
"jumbo-jet", "Essent" in "essentieel", "Ziggo" in "Ziggo Dome". Matching works on
tokens, never on substrings, so a brand inside a longer word cannot match. Then:

* an alias is a phrase of tokens; hyphen, space or nothing are interchangeable
  inside it ("t-mobile" = "T Mobile" = "tmobile");
* ``exclude`` phrases ("ziggo dome", "jumbo-jet") cancel the brand hits they overlap,
  also as hashtags (#ziggodome); the brand still matches elsewhere in the post;
* ``ambiguous`` aliases ("ing", "ns", "bol", "ah", "jumbo") count only in the brand's
  usual spelling ("ING", "NS") or with a ``context`` word in the same post ("pinnen",
  "trein"); in an all-caps post spelling says nothing, so context is required;
* hyphen compounds count ("KPN-storing", "Odido-klanten", "ING-app"): the senses that
  are not the brand ("jumbo-jet") are listed as exclusions instead;
* handles and hashtags are single tokens, matched whole (plus configured hashtag
  prefixes, #kpnstoring); URLs and e-mail addresses are skipped.

Two tokenizers feed the same rules (``[enrich] brand_backend``):

* ``regex`` (default) — one compiled regex and a dict walk over token phrases;
* ``spacy`` — ``spacy.blank("nl")``'s tokenizer (hashtags and handles kept whole)
  and a ``PhraseMatcher`` on the lower-cased tokens; needs the ``nlp`` extra.

``benchmarks/bench_enrich.py`` measures both; the regex path is the default because
it is several times faster on short posts (see the numbers there).
:class:`BrandMatcher` reloads its watchlist when the file changes on disk.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from klachtradar.contract import BrandMention, RawPost
from klachtradar.errors import ConfigError
from klachtradar.watchlist import BrandSpec, Watchlist, load_watchlist

log = logging.getLogger(__name__)

BackendName = Literal["regex", "spacy"]
Kind = Literal["alias", "handle", "hashtag"]

_SKIP = "\x00"
"""Lower-case form given to URL and e-mail tokens: equal to no alias."""

_TOKEN_BODY = (  # the order and the (?=[cnbeo]) guard are for speed: most tokens are words
    r"\w+(?:\.(?=[cnbeo])(?:com|nl|be|eu|net|org)\b)?"  # words, and bol.com-style names
    r"|(?<![\w@#])[#@]\w+"  # handles and hashtags, whole
    r"|-"  # hyphens, so "jumbo-jet" differs from "jumbo jet"; other punctuation is dropped
)
_TOKEN = re.compile(_TOKEN_BODY)
_SPACED_TOKEN = re.compile(rf"(\s*)({_TOKEN_BODY})")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EMAIL_HINT = re.compile(r"\w@\w")
_SPLIT = re.compile(r"[-\s]+")
_MENTION_CACHE = 50_000
_CONTEXT_WORD = re.compile(r"[\w-]+")


class Tokens:
    """A post as tokens: lower-cased form, surface form, and glued-to-previous flags.

    ``glued[i]`` is True when no whitespace separates token ``i`` from token ``i-1``;
    that is how "jumbo-jet" (three glued tokens) differs from "jumbo - jet". The regex
    backend computes ``glued`` only when a rule asks for it (few posts need it).
    """

    __slots__ = ("_glued", "_text", "has_hashtag", "lower", "surface")

    def __init__(
        self,
        lower: list[str],
        surface: list[str],
        glued: list[bool] | None = None,
        *,
        text: str = "",
        has_hashtag: bool = True,
    ) -> None:
        self.lower = lower
        self.surface = surface
        self._glued = glued
        self._text = text
        self.has_hashtag = has_hashtag
        """False when no token can be a hashtag (lets the matcher skip prefix checks)."""

    @property
    def glued(self) -> list[bool]:
        """Whether each token follows the previous one without whitespace."""
        if self._glued is None:
            pairs = _SPACED_TOKEN.findall(self._text)
            glued = [bool(i) and not space for i, (space, _) in enumerate(pairs)]
            self._glued = glued if len(glued) == len(self.lower) else [False] * len(self.lower)
        return self._glued


class TokenBackend(Protocol):
    """Turns text into :class:`Tokens` and finds phrase candidates in them."""

    def add(self, phrase_id: int, variants: Iterable[str]) -> None:
        """Register the spellings of one phrase under ``phrase_id``."""
        ...

    def tokenize(self, text: str) -> Tokens:
        """The tokens of ``text``."""
        ...

    def phrases(self, text: str) -> tuple[Tokens, list[tuple[int, int, int]]]:
        """Tokens plus every phrase hit ``(phrase id, start, end)``, token offsets."""
        ...


def alias_variants(alias: str) -> list[str]:
    """Spellings that count as ``alias``: parts joined by hyphen, space or nothing."""
    parts = [p for p in _SPLIT.split(alias.strip().lower()) if p]
    if len(parts) <= 1:
        return parts
    out = set()
    for joints in itertools.product((" ", "-", ""), repeat=len(parts) - 1):
        out.add(parts[0] + "".join(j + p for j, p in zip(joints, parts[1:], strict=True)))
    return sorted(out)


def regex_tokenize(text: str) -> Tokens:
    """The default tokenizer: URLs and e-mail addresses blanked, then one regex pass."""
    if "://" in text or "www." in text:
        text = " ".join(w for w in text.split() if "://" not in w and not w.startswith("www."))
    if "@" in text and _EMAIL_HINT.search(text):
        text = _EMAIL.sub(" ", text)
    surface = _TOKEN.findall(text)
    return Tokens([t.lower() for t in surface], surface, text=text, has_hashtag="#" in text)


_FILLER = frozenset({"-", "t", "de", "het", "in", "met", "bij", "via", "van", "op", "aan", "mijn"})
"""Words that never anchor a phrase lookup: they are too common in Dutch posts."""


def _anchor(key: tuple[str, ...]) -> int:
    """Which token of a phrase to look it up by: its longest non-filler word."""
    candidates = [i for i, token in enumerate(key) if token not in _FILLER] or [0]
    return max(candidates, key=lambda i: len(key[i]))


@dataclass
class RegexBackend:
    """Phrase lookup by each phrase's rarest-looking token; a dict walk, no scanning.

    "in de ns" is filed under "ns", not "in": a post has many "in"s and few "ns"s, so
    each post checks few candidate phrases.
    """

    _index: dict[str, list[tuple[tuple[str, ...], int, int]]] = field(default_factory=dict)

    def add(self, phrase_id: int, variants: Iterable[str]) -> None:
        """Register the spellings of one phrase under ``phrase_id``."""
        for variant in variants:
            key = tuple(self.tokenize(variant).lower)
            if key:
                offset = _anchor(key)
                bucket = self._index.setdefault(key[offset], [])
                bucket.append((key, phrase_id, offset))
                bucket.sort(key=lambda entry: len(entry[0]), reverse=True)

    def tokenize(self, text: str) -> Tokens:
        return regex_tokenize(text)

    def phrases(self, text: str) -> tuple[Tokens, list[tuple[int, int, int]]]:
        tokens = regex_tokenize(text)
        lower = tokens.lower
        index = self._index
        hits: list[tuple[int, int, int]] = []
        n = len(lower)
        for i in [i for i, token in enumerate(lower) if token in index]:
            for key, phrase_id, offset in index[lower[i]]:
                start = i - offset
                end = start + len(key)
                if len(key) == 1 or (start >= 0 and end <= n and tuple(lower[start:end]) == key):
                    hits.append((phrase_id, start, end))
        hits.sort(key=lambda hit: (hit[1], hit[1] - hit[2]))  # by position, longest first
        return tokens, hits


class SpacyBackend:
    """``spacy.blank("nl")`` tokenizer + ``PhraseMatcher(attr="LOWER")``.

    The tokenizer is told to keep ``#hashtag`` and ``@handle`` whole (spaCy splits the
    ``#`` off by default), so hashtags are matched as one token, like the regex path.
    """

    def __init__(self) -> None:
        try:
            import spacy
            from spacy.matcher import PhraseMatcher
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigError(
                "brand_backend = 'spacy' needs spaCy: pip install 'klachtradar[nlp]'"
            ) from exc
        self._nlp = spacy.blank("nl")
        tokenizer: Any = self._nlp.tokenizer
        defaults = self._nlp.Defaults
        prefixes = [p for p in defaults.prefixes or () if p not in ("#", "@")]
        infixes = [*(defaults.infixes or ()), r"(?<=\w)[-'’/](?=\w)"]
        tokenizer.prefix_search = spacy.util.compile_prefix_regex(prefixes).search
        tokenizer.infix_finditer = spacy.util.compile_infix_regex(infixes).finditer
        self._matcher = PhraseMatcher(self._nlp.vocab, attr="LOWER")

    def add(self, phrase_id: int, variants: Iterable[str]) -> None:
        docs = [self._nlp.make_doc(v) for v in variants]
        if docs:
            self._matcher.add(str(phrase_id), docs)

    def _tokens(self, doc: Any) -> Tokens:
        surface = [token.text for token in doc]
        lower = [token.lower_ for token in doc]
        spaces = [token.whitespace_ for token in doc]
        glued = [False, *(not space for space in spaces[:-1])]
        text = doc.text
        if "://" in text or "www." in text or "@" in text:  # URLs, e-mail: never a brand
            for i, token in enumerate(doc):
                if token.like_url or token.like_email:
                    lower[i] = _SKIP
        return Tokens(lower, surface, glued[: len(surface)], has_hashtag="#" in text)

    def tokenize(self, text: str) -> Tokens:
        return self._tokens(self._nlp.make_doc(text))

    def phrases(self, text: str) -> tuple[Tokens, list[tuple[int, int, int]]]:
        doc = self._nlp.make_doc(text)
        strings = self._nlp.vocab.strings
        hits = [(int(strings[m]), s, e) for m, s, e in self._matcher(doc)]
        hits.sort(key=lambda h: (h[1], -h[2]))  # longest first at a position, like regex
        return self._tokens(doc), hits


@dataclass(frozen=True, slots=True)
class _Phrase:
    """What a phrase id stands for."""

    brand: int
    role: Literal["alias", "ambiguous", "exclude", "handle", "hashtag"]


@dataclass(frozen=True, slots=True)
class _Brand:
    spec: BrandSpec
    case_spellings: frozenset[str]
    context: frozenset[str]
    compound_context: frozenset[str]
    hashtag_prefixes: tuple[str, ...]
    excluded_tags: tuple[str, ...]

    @classmethod
    def build(cls, spec: BrandSpec, raw_case: Sequence[str]) -> _Brand:
        return cls(
            spec=spec,
            case_spellings=frozenset(raw_case),
            context=frozenset(c for c in spec.context if "-" not in c),
            compound_context=frozenset(c for c in spec.context if "-" in c),
            hashtag_prefixes=tuple(spec.hashtag_prefixes),
            excluded_tags=tuple(v.replace(" ", "").replace("-", "") for v in spec.exclude),
        )


def make_backend(name: BackendName) -> TokenBackend:
    """The tokenizer backend by settings name."""
    if name == "spacy":
        return SpacyBackend()
    if name == "regex":
        return RegexBackend()
    raise ConfigError(f"unknown brand_backend {name!r}: use 'regex' or 'spacy'")


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

    def __init__(
        self, watchlist: Watchlist, *, path: Path | None = None, backend: BackendName = "regex"
    ) -> None:
        self._path = path
        self._mtime = path.stat().st_mtime_ns if path is not None else None
        self.backend_name: BackendName = backend
        self._install(watchlist)

    @classmethod
    def from_file(cls, path: Path, *, backend: BackendName = "regex") -> BrandMatcher:
        """A matcher that re-reads ``path`` when it changes (see :meth:`reload_if_changed`)."""
        return cls(load_watchlist(path), path=path, backend=backend)

    def _install(self, watchlist: Watchlist) -> None:
        """Compile a watchlist; the old one stays in use until this has fully succeeded."""
        backend = make_backend(self.backend_name)
        brands: list[_Brand] = []
        phrases: list[_Phrase] = []
        for number, spec in enumerate(watchlist.brands):
            brands.append(_Brand.build(spec, spec.ambiguous_case))
            for role, aliases in (
                ("alias", spec.aliases),
                ("ambiguous", spec.ambiguous),
                ("exclude", spec.exclude),
            ):
                for alias in aliases:
                    phrases.append(_Phrase(number, role))  # type: ignore[arg-type]
                    backend.add(len(phrases) - 1, alias_variants(alias))
            for role, sigil, names in (
                ("handle", "@", spec.handles),
                ("hashtag", "#", spec.hashtags),
            ):
                for name in names:  # a handle or hashtag is one token: a phrase of one
                    phrases.append(_Phrase(number, role))  # type: ignore[arg-type]
                    backend.add(len(phrases) - 1, [sigil + name])
        handles = {h: b for b in brands for h in b.spec.handles}
        hashtags = {t: b for b in brands for t in b.spec.hashtags}
        self.watchlist = watchlist
        self.version = hashlib.sha256(watchlist.model_dump_json().encode("utf-8")).hexdigest()
        """Which watchlist is installed: equal in two processes that loaded the same one."""
        # The regex tokenizer never glues two word tokens together; spaCy's can.
        self._word_check = isinstance(backend, SpacyBackend)
        self._backend = backend
        self._brands = brands
        self._phrases = phrases
        self._handle_index = handles
        self._hashtag_index = hashtags
        self._mentions: dict[tuple[str, str, Kind], BrandMention] = {}
        self._prefixes = tuple(p for b in brands for p in b.hashtag_prefixes)

    def reload_if_changed(self) -> bool:
        """Re-read the watchlist file if it changed; True when it did.

        A broken file (bad TOML, invalid field) is logged and the current watchlist stays
        in use: a typo in the watchlist must not stop the stream. The broken version is
        not retried until the file changes again.
        """
        if self._path is None:
            return False
        try:
            mtime = self._path.stat().st_mtime_ns
        except OSError as exc:
            log.warning("watchlist %s unreadable, keeping the current one: %s", self._path, exc)
            return False
        if mtime == self._mtime:
            return False
        self._mtime = mtime
        try:
            self._install(load_watchlist(self._path))
        except ConfigError as exc:
            log.error("watchlist reload failed, keeping the current one: %s", exc)
            return False
        log.info("watchlist reloaded: %d brands", len(self._brands))
        return True

    def brand_of_handle(self, handle: str) -> str | None:
        """The brand whose own handle this is (a brand reply's author), else None."""
        brand = self._handle_index.get(handle.lower().removeprefix("@"))
        return None if brand is None else brand.spec.name

    def match(self, post: RawPost) -> list[BrandMention]:
        """Brands in a post's text and its mention/hashtag lists, first occurrence first."""
        return self.match_fields(post.text, post.mentions, post.hashtags)

    def match_fields(
        self, text: str, handles: Sequence[str], hashtags: Sequence[str]
    ) -> list[BrandMention]:
        """:meth:`match` on a post's fields (a worker process gets no :class:`RawPost`)."""
        mentions = self.match_text(text)
        seen = {m.brand for m in mentions}
        for handle in handles:
            brand = self._handle_index.get(handle.lower().removeprefix("@"))
            if brand is not None and brand.spec.name not in seen:
                seen.add(brand.spec.name)
                mentions.append(self._mention(brand.spec.name, f"@{handle}", "handle"))
        for tag in hashtags:
            brand = self._brand_for_hashtag(tag.lower().removeprefix("#"))
            if brand is not None and brand.spec.name not in seen:
                seen.add(brand.spec.name)
                mentions.append(self._mention(brand.spec.name, f"#{tag}", "hashtag"))
        return mentions

    def match_text(self, text: str) -> list[BrandMention]:
        """Brands mentioned in ``text``, ordered by first occurrence, one mention each."""
        tokens, hits = self._backend.phrases(text)
        found: dict[str, tuple[int, BrandMention]] = {}
        for position, brand, matched, kind in self._candidates(tokens, hits):
            name = brand.spec.name
            if name not in found or position < found[name][0]:
                found[name] = (position, self._mention(name, matched, kind))
        if len(found) <= 1:
            return [mention for _, mention in found.values()]
        return [mention for _, mention in sorted(found.values(), key=lambda pm: pm[0])]

    def _candidates(
        self, tokens: Tokens, hits: list[tuple[int, int, int]]
    ) -> Iterator[tuple[int, _Brand, str, Kind]]:
        """Every accepted hit as ``(token position, brand, matched text, kind)``."""
        if tokens.has_hashtag and self._prefixes:  # hashtags by prefix: #kpnstoring
            for i, token in enumerate(tokens.lower):
                if token[0] == "#" and token[1:] not in self._hashtag_index:
                    brand = self._brand_for_hashtag(token[1:])
                    if brand is not None:
                        yield i, brand, tokens.surface[i], "hashtag"
        if not hits:
            return
        excluded: set[tuple[int, int]] = set()  # (brand, token) covered by an exclusion
        for phrase_id, start, end in hits:
            phrase = self._phrases[phrase_id]
            if phrase.role == "exclude":
                excluded.update((phrase.brand, t) for t in range(start, end))
        context: set[str] | None = None
        for phrase_id, start, end in hits:
            phrase = self._phrases[phrase_id]
            if phrase.role == "handle" or phrase.role == "hashtag":
                yield start, self._brands[phrase.brand], tokens.surface[start], phrase.role
                continue
            if phrase.role == "exclude" or (
                excluded and any((phrase.brand, t) in excluded for t in range(start, end))
            ):
                continue
            brand = self._brands[phrase.brand]
            if phrase.role == "ambiguous":
                if context is None:
                    context = _context_words(tokens)
                if not self._ambiguous_counts(brand, tokens, start, end, context):
                    continue
            elif self._word_check and _inside_word(tokens, start, end):
                continue
            yield start, brand, _span_text(tokens, start, end), "alias"

    @staticmethod
    def _ambiguous_counts(
        brand: _Brand, tokens: Tokens, start: int, end: int, context: set[str]
    ) -> bool:
        """An ambiguous alias counts in its brand spelling (unless shouting) or in context."""
        if not brand.context.isdisjoint(context):
            return True
        if brand.compound_context and not brand.compound_context.isdisjoint(
            _compound_words(tokens)
        ):
            return True
        spelled = _span_text(tokens, start, end)
        return spelled in brand.case_spellings and not _mostly_upper(tokens)

    def mention(self, brand: str, matched: str, kind: Kind) -> BrandMention:
        """The (shared, immutable) mention of ``brand`` by ``matched``."""
        return self._mention(brand, matched, kind)

    def _mention(self, brand: str, matched: str, kind: Kind) -> BrandMention:
        """A shared (immutable) mention: building one per post is most of the cost."""
        key = (brand, matched, kind)
        mention = self._mentions.get(key)
        if mention is None:
            if len(self._mentions) >= _MENTION_CACHE:
                self._mentions.clear()
            mention = self._mentions[key] = BrandMention(brand=brand, matched=matched, kind=kind)
        return mention

    def _brand_for_hashtag(self, tag: str) -> _Brand | None:
        brand = self._hashtag_index.get(tag)
        if brand is not None:
            return brand
        if not tag.startswith(self._prefixes):
            return None
        for candidate in self._brands:
            if (
                candidate.hashtag_prefixes
                and tag.startswith(candidate.hashtag_prefixes)
                and not (candidate.excluded_tags and tag.startswith(candidate.excluded_tags))
            ):
                return candidate
        return None


def _span_text(tokens: Tokens, start: int, end: int) -> str:
    if end == start + 1:
        return tokens.surface[start]
    parts = [tokens.surface[start]]
    for i in range(start + 1, end):
        parts.append(tokens.surface[i] if tokens.glued[i] else " " + tokens.surface[i])
    return "".join(parts)


def _inside_word(tokens: Tokens, start: int, end: int) -> bool:
    """Glued to a word on either side without a hyphen: "KPN2", "_kpn" never count."""
    before = start > 0 and tokens.glued[start] and tokens.lower[start - 1].isalnum()
    after = end < len(tokens.lower) and tokens.glued[end] and tokens.lower[end].isalnum()
    return before or after


def _context_words(tokens: Tokens) -> set[str]:
    """Lower-cased words of the post, hashtags also without their '#'."""
    words = set(tokens.lower)
    if tokens.has_hashtag:
        words.update(t[1:] for t in tokens.lower if t[0] == "#")
    return words


def _compound_words(tokens: Tokens) -> set[str]:
    """Hyphen compounds of the post, joined ("ov-chip"), for context words that have one."""
    return set(_CONTEXT_WORD.findall(" ".join(_glue(tokens))))


def _glue(tokens: Tokens) -> Iterator[str]:
    current: list[str] = []
    for token, glued in zip(tokens.lower, tokens.glued, strict=True):
        if not glued and current:
            yield "".join(current)
            current = []
        current.append(token)
    if current:
        yield "".join(current)


def _mostly_upper(tokens: Tokens) -> bool:
    """An all-caps post: its spelling says nothing about brand names."""
    letters = _NOT_LETTER.sub("", "".join(tokens.surface))
    if len(letters) < 12:
        return False
    lower = letters.lower()
    return sum(map(str.__ne__, letters, lower)) / len(letters) > 0.6


_NOT_LETTER = re.compile(r"[\W\d_]+")
