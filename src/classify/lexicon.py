"""The ``lexicon`` backend: Dutch polarity words, negation, intensifiers, emoji, sarcasm
markers and cue patterns. No training, fast, and explainable: every prediction lists
the words and rules that decided it.

How a text is judged:

1. Tokens are matched against the polarity lexicon (single words and phrases). A
   negator in the two tokens before a word flips and damps it ("niet slecht" is mildly
   positive, "niet goed" negative); an intensifier right before it strengthens it.
2. Sarcasm: a praise marker ("lekker bezig", "top service") together with an eye-roll
   emoji, "weer"/"alweer" or a failure term counts as negative, not positive.
3. Intent scores combine failure terms (klacht), question form (vraag), thanks
   (compliment) and news/ad/job markers (overig); a complaint phrased as a question
   stays a complaint.
4. Scores become probabilities with a softmax, so downstream thresholds can use them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from classify import lexicon_nl as lx
from classify.base import Prediction
from classify.triggered_rules import TriggeredRules
from klachtradar.contract import Cue, Intent, ModelRef, Sentiment

_TOKEN = re.compile(r"[#@]?[\w]+(?:[-'.][\w]+)*|[^\w\s]", re.UNICODE)
_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"@\w+")
_MAX_CHARS = 2_000
"""Posts longer than this are judged on their first 2,000 characters; nothing real is longer."""


def _phrase_pattern(phrases: Sequence[str]) -> re.Pattern[str]:
    ordered = sorted({p for p in phrases}, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)")


_POS_PHRASES = _phrase_pattern([w for w in lx.POSITIVE if " " in w])
_NEG_PHRASES = _phrase_pattern([w for w in lx.NEGATIVE if " " in w])
_SARCASM = _phrase_pattern(lx.SARCASM_MARKERS)
_COMPLAINT = _phrase_pattern(lx.COMPLAINT_TERMS)
_THANKS = _phrase_pattern(lx.THANKS_TERMS)
_OTHER = re.compile("|".join(re.escape(t) for t in lx.OTHER_TERMS))
_QUESTION_START = _phrase_pattern(lx.QUESTION_STARTS)
_PERSONAL = re.compile(
    r"(?<!\w)(?:ik|mijn|mn|m'n|me|mij|we|wij|ons|onze|jullie|jij|je|u|uw|hier|thuis)(?!\w)"
)
_GRIEVANCE_CUES = (Cue.CHURN, Cue.HERHAALD, Cue.MEDIA)
_CUE_ORDER = tuple(Cue(name) for name in lx.CUE_PATTERNS)
_CUE_COLUMNS = tuple(_CUE_ORDER.index(cue) for cue in Cue)
"""Position in ``_RULES`` of each cue, in :class:`Cue` order (the rule feature order)."""
_RULES = TriggeredRules(
    {
        **lx.CUE_PATTERNS,
        "sarcasm": [r"(?<!\w)" + re.escape(p) + r"(?!\w)" for p in set(lx.SARCASM_MARKERS)],
    }
)
"""The cue alternations and the sarcasm markers, searched only where their literals occur
(:mod:`classify.triggered_rules`): the same answers as the plain alternations, a third
of the time."""


KLACHT_RHETORICAL = 1.5
VRAAG_RHETORICAL = 2.0
KLACHT_FAILURE = 0.6
_RHETORICAL = re.compile(
    r"(?<!\w)(?:waarom|hoezo|hoe kan het|hoe is het mogelijk|iemand anders ook|"
    r"ook last van|wanneer (?:gaan|komt|wordt|krijg)|is het nou zo moeilijk)(?!\w)"
)
"""A complaint phrased as a question ("Waarom is mijn internet ALWEER weg?") is a complaint."""
_FAILURE = re.compile(r"(?<!\w)(?:niet|geen|nooit|niks|niets|nergens)(?!\w)")
"""Negations in a personal post usually say something failed ("kan geen … meer")."""

PATTERN_WEIGHT = 1.0
MIN_ADJECTIVE_CHARS = 4
_NOT_ADJECTIVES = frozenset({"net", "top", "min", "even", "echt", "gewoon", "zeker", "vrij"})
"""Scale of Pattern's adjective polarities (−1…1) against the hand weights (0.5…2)."""


@lru_cache(maxsize=1)
def _pattern_adjectives() -> dict[str, float]:
    """Pattern's Dutch adjective lexicon (PDDL; see scripts/build_pattern_lexicon.py)."""
    path = Path(__file__).with_name("lexicon_data") / "pattern_nl_adjectives.tsv"
    table: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            form, polarity = line.split("\t")
            table[form] = float(polarity)
    return table


def adjective_polarity(token: str) -> float:
    """Polarity of an adjective, inflected forms included ("vervelende" → "vervelend").

    Short words and a few function words are skipped: "net" (neat / just), "top",
    "min", "even" are far more often something else in a post than the adjective.
    """
    if len(token) < MIN_ADJECTIVE_CHARS or token in _NOT_ADJECTIVES:
        return 0.0
    table = _pattern_adjectives()
    if token in table:
        return table[token]
    if token.endswith("e") and len(token) > 3:
        stem = token[:-1]
        if stem in table:
            return table[stem]
        if stem[-1] == stem[-2] and stem[:-1] in table:  # "snelle" → "snel"
            return table[stem[:-1]]
    return 0.0


@lru_cache(maxsize=1)
def _token_weights() -> dict[str, tuple[float, float]]:
    """Token → (positive, negative) weight, everything precomputed into one lookup.

    Equivalent to: the hand-written lexicon and emoji first; for tokens it does not
    know, :func:`adjective_polarity` (inflections included) × ``PATTERN_WEIGHT``. Built
    once, so judging a token costs one dictionary lookup instead of a dozen.
    """
    weights: dict[str, tuple[float, float]] = {}
    if PATTERN_WEIGHT:
        table = _pattern_adjectives()
        adjectives: dict[str, float] = {}
        for form, polarity in table.items():  # lowest precedence first
            adjectives[form + form[-1] + "e"] = polarity  # "snel" → "snelle"
        for form, polarity in table.items():
            if len(form) + 1 > 3:
                adjectives[form + "e"] = polarity  # "vervelend" → "vervelende"
        adjectives.update(table)
        for token, polarity in adjectives.items():
            if len(token) >= MIN_ADJECTIVE_CHARS and token not in _NOT_ADJECTIVES and polarity:
                weights[token] = (
                    PATTERN_WEIGHT * max(polarity, 0.0),
                    PATTERN_WEIGHT * max(-polarity, 0.0),
                )
    for token in {*lx.POSITIVE, *lx.NEGATIVE, *lx.POSITIVE_EMOJI, *lx.NEGATIVE_EMOJI}:
        pos = lx.POSITIVE.get(token, 0.0) + lx.POSITIVE_EMOJI.get(token, 0.0)
        neg = lx.NEGATIVE.get(token, 0.0) + lx.NEGATIVE_EMOJI.get(token, 0.0)
        if pos or neg:
            weights[token] = (pos, neg)
    return weights


@dataclass(frozen=True, slots=True)
class _Signals:
    pos: float
    neg: float
    complaint: float
    thanks: float
    question: float
    other: float
    sarcasm: bool
    personal: bool
    evidence: list[str]
    rhetorical: float = 0.0
    failure: float = 0.0


def _softmax(scores: dict[str, float]) -> dict[str, float]:
    top = max(scores.values())
    exps = {k: math.exp(v - top) for k, v in scores.items()}
    total = sum(exps.values())
    return {k: v / total for k, v in exps.items()}


class LexiconClassifier:
    """Rules and a Dutch lexicon; see the module docstring for how it decides.

    >>> clf = LexiconClassifier()
    >>> p = clf.predict_proba(["@KPN al 3 dagen geen internet, belachelijk 😡"])[0]
    >>> max(p.intent, key=p.intent.__getitem__).value
    'klacht'
    """

    name = "lexicon"
    version = "1.1.0"

    def __init__(self, *, temperature: float = 1.0) -> None:
        self.temperature = temperature

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    def fit(self, texts: Sequence[str], labels: object = None) -> LexiconClassifier:
        """Nothing to learn; present so every backend has the same shape."""
        return self

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        return [self._predict_one(text) for text in texts]

    def _predict_one(self, text: str) -> Prediction:
        clean = _URL.sub(" ", text[:_MAX_CHARS]).lower()
        signals = self._signals(clean)
        t = self.temperature
        *found, _ = _RULES.matches(clean)
        cues = {cue: (0.9 if hit else 0.05) for cue, hit in zip(_CUE_ORDER, found, strict=True)}
        grievance = sum(cues[c] > 0.5 for c in _GRIEVANCE_CUES)
        # Reports about others ("duizenden klanten zonder internet") are news, not complaints.
        impersonal = 0.0 if signals.personal or signals.question else 1.0
        neg = signals.neg + 0.5 * signals.complaint
        pos = signals.pos + 0.8 * signals.thanks
        sentiment = _softmax(
            {
                "negatief": (1.4 * neg - 0.4 * pos) / t,
                "positief": (1.4 * pos - 0.6 * neg) / t,
                "neutraal": 1.1 / t,
            }
        )
        intent = _softmax(
            {
                "klacht": (
                    1.3 * signals.complaint
                    + 0.9 * signals.neg
                    - 0.6 * signals.thanks
                    + 0.7 * grievance
                    - 1.2 * impersonal
                    + (0.8 if signals.question and neg > 1.0 else 0.0)
                    + KLACHT_RHETORICAL * signals.rhetorical
                    + KLACHT_FAILURE * signals.failure
                    - 0.3
                )
                / t,
                "vraag": (
                    2.0 * signals.question
                    - 0.8 * neg
                    - 0.5 * signals.thanks
                    - VRAAG_RHETORICAL * signals.rhetorical
                )
                / t,
                "compliment": (1.3 * signals.thanks + 0.7 * signals.pos - 1.0 * neg - 0.4) / t,
                "overig": (0.9 + 1.2 * signals.other + 1.0 * impersonal) / t,
            }
        )
        # A cue without any grievance (e.g. "opnieuw" in an ad) is weak evidence.
        weak = intent["klacht"] < 0.3 and sentiment["negatief"] < 0.4
        if weak and (signals.other or impersonal):
            cues = {cue: min(p, 0.3) for cue, p in cues.items()}
        return Prediction(
            sentiment={Sentiment(k): v for k, v in sentiment.items()},
            intent={Intent(k): v for k, v in intent.items()},
            cues=cues,
            evidence=signals.evidence[:12],
        )

    def _signals(self, clean: str) -> _Signals:
        evidence: list[str] = []
        pos, neg = self._polarity(clean, evidence)
        complaint = 0.0
        for match in _COMPLAINT.finditer(clean):
            complaint += 1.0
            evidence.append(f"klachtterm:{match.group()}")
        thanks = 0.0
        for match in _THANKS.finditer(clean):
            thanks += 1.0
            evidence.append(f"dank:{match.group()}")
        sarcasm = bool(_SARCASM.search(clean))
        eye_roll = any(e in clean for e in lx.SARCASM_EMOJI)
        if sarcasm and (eye_roll or complaint > 0 or " weer" in clean or neg > 0):
            evidence.append("sarcasme")
            neg += pos + 1.5
            complaint += 1.0
            pos, thanks = 0.0, 0.0
        elif eye_roll and pos > 0 and neg == 0:
            evidence.append("sarcasme:emoji")
            neg, pos = pos + 0.5, 0.0
            thanks = 0.0
        question = self._question(clean)
        rhetorical = 0.0
        if found := _RHETORICAL.search(clean):
            rhetorical = 1.0
            evidence.append(f"klachtvraag:{found.group()}")
        personal = bool(_PERSONAL.search(clean)) or clean.lstrip().startswith("@")
        failure = min(len(_FAILURE.findall(clean)), 3) if personal else 0
        if failure:
            evidence.append(f"ontkenning×{failure}")
        other = float(len(_OTHER.findall(clean)))
        if other:
            evidence.append("overig-markering")
        return _Signals(
            pos=min(pos, 6.0),
            neg=min(neg, 6.0),
            complaint=min(complaint, 4.0),
            thanks=min(thanks, 3.0),
            question=question,
            other=min(other, 3.0),
            sarcasm=sarcasm,
            personal=personal,
            evidence=evidence,
            rhetorical=rhetorical,
            failure=float(failure),
        )

    @staticmethod
    def _polarity(clean: str, evidence: list[str]) -> tuple[float, float]:
        pos = neg = 0.0
        for match in _POS_PHRASES.finditer(clean):
            pos += lx.POSITIVE[match.group()]
            evidence.append(f"+{match.group()}")
        for match in _NEG_PHRASES.finditer(clean):
            neg += lx.NEGATIVE[match.group()]
            evidence.append(f"-{match.group()}")
        tokens = _TOKEN.findall(_HANDLE.sub(" ", clean))
        weights = _token_weights()
        for i, token in enumerate(tokens):
            hit = weights.get(token)
            if hit is None:
                continue
            weight_pos, weight_neg = hit
            before = tokens[max(0, i - 2) : i]
            boost = lx.INTENSIFIERS.get(before[-1], 1.0) if before else 1.0
            negated = any(b in lx.NEGATORS for b in before)
            if negated:
                # "niet goed" → negative, "niet slecht" → mildly positive.
                weight_pos, weight_neg = 0.5 * weight_neg, weight_pos
            if weight_pos:
                pos += weight_pos * boost
                evidence.append(f"+{'niet ' if negated else ''}{token}")
            if weight_neg:
                neg += weight_neg * boost
                evidence.append(f"-{'niet ' if negated else ''}{token}")
        return pos, neg

    @staticmethod
    def _question(clean: str) -> float:
        score = 0.0
        if "?" in clean:
            score += 1.0
        stripped = _HANDLE.sub(" ", clean).strip()
        if _QUESTION_START.match(stripped):
            score += 0.6
        return score


_EYE_ROLL = re.compile(
    "|".join(re.escape(e) for e in sorted(lx.SARCASM_EMOJI, key=len, reverse=True))
)
RULE_FEATURES: tuple[str, ...] = (
    "cue:churn",
    "cue:media",
    "cue:herhaald",
    "cue:urgent",
    "sarcasm_marker",
    "sarcasm_marker+eye_roll",
)
"""Names of :func:`rule_features`, in order (shown in model cards and explanations)."""


def rule_features(text: str) -> list[float]:
    """The lexicon's cheapest, most precise rules as 0/1 features for a learned model.

    Escalation cues and sarcasm markers are rare in 1,200 training posts, so a model
    learns them badly from n-grams alone; the hand-written patterns carry them. Only the
    alternatives whose literal occurs in the text are searched (``_RULES``), about
    8 µs a post, so the linear backend stays fast.
    """
    clean = text[:_MAX_CHARS].lower()
    found = _RULES.matches(clean)
    sarcasm = found[-1]
    return [
        *(1.0 if found[i] else 0.0 for i in _CUE_COLUMNS),
        1.0 if sarcasm else 0.0,
        1.0 if sarcasm and _EYE_ROLL.search(clean) else 0.0,
    ]
