"""Offline language tagging for short posts, by function words.

Short social posts defeat character n-gram identifiers surprisingly often; their
function words ("de", "het", "niet" against "the", "not", "der", "nicht") are a
cheap, fast and honest signal. A post is tagged non-Dutch only when another
language's function words clearly outnumber Dutch ones; otherwise a source's own
tag is kept, and failing that the post is taken as Dutch, because the watchlist is
Dutch and a missed Dutch complaint costs more than a misjudged foreign one.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from klachtradar.contract import RawPost
from klachtradar.errors import ConfigError

log = logging.getLogger(__name__)

_WORDS = re.compile(r"[^\W\d_]+", re.UNICODE)

FUNCTION_WORDS: dict[str, frozenset[str]] = {
    "nl": frozenset(
        [
            "de",
            "het",
            "een",
            "en",
            "van",
            "ik",
            "je",
            "niet",
            "is",
            "dat",
            "op",
            "te",
            "zijn",
            "voor",
            "met",
            "die",
            "maar",
            "wel",
            "al",
            "nog",
            "ook",
            "er",
            "bij",
            "weer",
            "geen",
            "mijn",
            "wat",
            "hoe",
            "naar",
            "door",
            "om",
            "heb",
            "heeft",
            "dan",
            "nu",
            "jullie",
            "was",
            "wordt",
            "zo",
            "kan",
            "echt",
            "gewoon",
            "even",
            "ff",
            "mn",
            "m'n",
            "wij",
            "we",
            "ze",
            "hun",
            "deze",
            "dit",
            "wil",
            "moet",
            "zit",
            "toch",
            "nooit",
            "helemaal",
            "alweer",
            "waarom",
            "uit",
            "over",
            "tot",
            "omdat",
        ]
    ),
    "en": frozenset(
        [
            "the",
            "and",
            "is",
            "are",
            "was",
            "not",
            "you",
            "my",
            "your",
            "it",
            "this",
            "that",
            "with",
            "for",
            "have",
            "has",
            "of",
            "to",
            "in",
            "on",
            "be",
            "can",
            "why",
            "what",
            "just",
            "still",
            "again",
            "they",
            "their",
            "our",
            "from",
            "been",
            "will",
            "would",
            "does",
            "doesn't",
            "don't",
            "can't",
            "won't",
            "i'm",
            "it's",
            "any",
            "please",
            "thanks",
        ]
    ),
    "de": frozenset(
        [
            "der",
            "die",
            "das",
            "und",
            "ist",
            "nicht",
            "ich",
            "mit",
            "ein",
            "eine",
            "sie",
            "wir",
            "auf",
            "für",
            "zu",
            "von",
            "schon",
            "noch",
            "mein",
            "meine",
            "kein",
            "keine",
            "wieder",
            "warum",
            "aber",
            "auch",
            "sind",
            "war",
            "wurde",
            "immer",
            "nach",
            "bitte",
            "danke",
            "heute",
            "zug",
        ]
    ),
    "fr": frozenset(
        [
            "le",
            "la",
            "les",
            "et",
            "est",
            "pas",
            "je",
            "vous",
            "avec",
            "une",
            "des",
            "du",
            "pour",
            "sur",
            "mon",
            "ma",
            "mes",
            "encore",
            "toujours",
            "pourquoi",
            "mais",
            "aussi",
            "très",
            "ne",
            "qui",
            "que",
            "ce",
            "merci",
            "aujourd",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "y",
            "es",
            "no",
            "yo",
            "con",
            "una",
            "por",
            "para",
            "pero",
            "muy",
            "mi",
            "mis",
            "todavía",
            "otra",
            "vez",
            "por",
            "qué",
            "gracias",
            "hoy",
            "está",
            "estoy",
        ]
    ),
    "tr": frozenset(
        [
            "ve",
            "bir",
            "bu",
            "da",
            "de",
            "için",
            "çok",
            "ne",
            "neden",
            "ben",
            "sen",
            "hala",
            "yine",
            "değil",
            "ile",
            "mi",
            "mı",
            "teşekkürler",
            "ama",
            "daha",
        ]
    ),
    "pl": frozenset(
        [
            "i",
            "nie",
            "jest",
            "się",
            "na",
            "to",
            "że",
            "w",
            "z",
            "do",
            "jak",
            "mi",
            "mój",
            "moja",
            "jeszcze",
            "znowu",
            "dlaczego",
            "ale",
            "już",
            "bardzo",
            "dziękuję",
        ]
    ),
    "fy": frozenset(
        [
            "it",
            "en",
            "fan",
            "yn",
            "net",
            "is",
            "ik",
            "dat",
            "op",
            "te",
            "wêze",
            "mei",
            "mar",
            "ek",
            "noch",
            "hjir",
            "wat",
            "hoe",
            "troch",
            "om",
            "hat",
            "no",
            "jimme",
            "wie",
            "sa",
            "kin",
            "echt",
            "gewoan",
            "hja",
            "wy",
            "se",
            "harren",
            "dizze",
            "dit",
            "wol",
            "moat",
            "al",
            "wer",
            "gjin",
            "myn",
        ]
    ),
}
"""Frequent function words per language (ISO 639-1)."""

_FY_MARKERS = frozenset({"net", "yn", "wêze", "gjin", "jimme", "myn", "hjir", "wer", "noch"})


def identify(text: str) -> str | None:
    """The language code of ``text``, or ``None`` when the evidence is too thin."""
    words = [w.lower() for w in _WORDS.findall(text)]
    if not words:
        return None
    counts = {lang: sum(w in vocab for w in words) for lang, vocab in FUNCTION_WORDS.items()}
    dutch = counts.pop("nl")
    frisian = counts.pop("fy")
    best_lang, best = max(counts.items(), key=lambda kv: kv[1])
    if best >= 2 and best > dutch * 1.5:
        return best_lang
    if frisian >= 3 and sum(w in _FY_MARKERS for w in words) >= 2 and frisian > dutch:
        return "fy"
    if dutch >= 1:
        return "nl"
    return None


class LangidTagger:
    """py3langid (naive Bayes over byte n-grams) restricted to the likely languages.

    Restricting the label set matters: unrestricted, langid tags short Dutch posts as
    Afrikaans, Frisian or Luxembourgish. A post below ``min_confidence`` falls back to
    the function-word tagger, so short posts keep their cautious default (Dutch).
    """

    def __init__(self, candidates: Sequence[str], *, min_confidence: float = 0.9) -> None:
        try:
            from py3langid.langid import (  # type: ignore[import-untyped]
                MODEL_FILE,
                LanguageIdentifier,
            )
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigError(
                "language_backend = 'langid' needs py3langid: pip install 'klachtradar[nlp]'"
            ) from exc
        self._identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        known = set(self._identifier.nb_classes)
        self.languages = [c for c in candidates if c in known]
        self._identifier.set_languages(self.languages)
        self.min_confidence = min_confidence

    def __call__(self, text: str) -> str | None:
        if _clearly_dutch(text):  # most posts: skip the n-gram model
            return "nl"
        cleaned = _NOISE.sub(" ", text)
        lang, prob = self._identifier.classify(cleaned)
        if prob < self.min_confidence:
            return identify(text)
        return str(lang)


def _clearly_dutch(text: str) -> bool:
    """Three or more Dutch function words and not one of another language's."""
    words = {w.lower() for w in _WORDS.findall(text)}
    return len(words & FUNCTION_WORDS["nl"]) >= 3 and not words & _NOT_DUTCH


_NOT_DUTCH = frozenset().union(*FUNCTION_WORDS.values()) - FUNCTION_WORDS["nl"]
"""Function words of the other languages that are not also Dutch ones."""


_NOISE = re.compile(r"https?://\S+|[@#]\w+")
_TAGGERS: dict[tuple[str, tuple[str, ...]], Callable[[str], str | None]] = {}


def tagger(
    backend: str = "function_words", candidates: Sequence[str] = ()
) -> Callable[[str], str | None]:
    """The language identifier by settings name (built once per process)."""
    if backend == "function_words":
        return identify
    if backend != "langid":
        raise ConfigError(f"unknown language_backend {backend!r}: use function_words or langid")
    key = (backend, tuple(candidates))
    if key not in _TAGGERS:
        try:
            _TAGGERS[key] = LangidTagger(candidates or list(FUNCTION_WORDS))
        except ConfigError as exc:  # the nlp extra is not installed: degrade, say so once
            log.warning("%s; using the function-word tagger", exc)
            _TAGGERS[key] = identify
    return _TAGGERS[key]


def tag_languages(
    posts: Sequence[RawPost],
    *,
    backend: str = "function_words",
    candidates: Sequence[str] = (),
) -> list[RawPost]:
    """Set ``lang`` on posts whose source did not; a source's own tag wins."""
    identify_one = tagger(backend, candidates)
    out: list[RawPost] = []
    for post in posts:
        if post.lang:
            out.append(post)
            continue
        out.append(post.model_copy(update={"lang": identify_one(post.text) or "nl"}))
    return out
