"""The lexicon classifier: what it should get right, and odd input it must survive."""

from __future__ import annotations

import pytest

from classify.base import to_classification
from classify.lexicon import LexiconClassifier
from klachtradar.contract import Cue, Intent, Sentiment

CLF = LexiconClassifier()


def classify(text: str):  # type: ignore[no-untyped-def]
    return to_classification(CLF.predict_proba([text])[0], CLF.model_ref)


@pytest.mark.parametrize(
    ("text", "intent", "sentiment"),
    [
        ("@KPNwebcare al 3 dagen geen internet, belachelijk 😡", Intent.KLACHT, Sentiment.NEGATIEF),
        (
            "Lekker bezig weer @NS, 3e keer deze week vertraging 🙄",
            Intent.KLACHT,
            Sentiment.NEGATIEF,
        ),
        (
            "Wat een topservice van @Coolblue, binnen een dag geleverd. Bedankt!",
            Intent.COMPLIMENT,
            Sentiment.POSITIEF,
        ),
        (
            "Kan ik mijn abonnement bij Ziggo ook online verlengen?",
            Intent.VRAAG,
            Sentiment.NEUTRAAL,
        ),
        (
            "Waarom is mijn internet ALWEER weg @Ziggo? Belachelijk",
            Intent.KLACHT,
            Sentiment.NEGATIEF,
        ),
    ],
)
def test_clear_cases(text: str, intent: Intent, sentiment: Sentiment) -> None:
    result = classify(text)
    assert result.intent is intent
    assert result.sentiment is sentiment


def test_negation_turns_praise_around() -> None:
    assert classify("de service van jullie is echt niet goed").sentiment is Sentiment.NEGATIEF


@pytest.mark.parametrize(
    ("text", "cue"),
    [
        ("Ik zeg mijn abonnement op, klaar met jullie", Cue.CHURN),
        ("Als dit niet opgelost wordt stap ik naar de Consumentenbond", Cue.MEDIA),
        ("Al weken geen reactie op mijn klacht", Cue.HERHAALD),
        ("Mijn moeder van 89 heeft geen verwarming, storing al de hele dag", Cue.URGENT),
    ],
)
def test_escalation_cues_are_found(text: str, cue: Cue) -> None:
    assert cue in classify(text).cues


def test_every_result_carries_probabilities_model_and_evidence() -> None:
    result = classify("@KPN storing alweer, waardeloos")
    assert abs(sum(result.sentiment_proba.values()) - 1) < 1e-9
    assert abs(sum(result.intent_proba.values()) - 1) < 1e-9
    assert result.model.name == "lexicon" and result.model.version
    assert any("storing" in e for e in result.evidence)


@pytest.mark.parametrize(
    "text",
    ["", "   ", "🙄🙄🙄", "https://t.co/abc", "x" * 10_000, "storing\x00\x07\x1b[31m", "ٱلسلام"],
)
def test_odd_input_gives_a_valid_result(text: str) -> None:
    result = classify(text)
    assert result.intent in Intent
    assert abs(sum(result.intent_proba.values()) - 1) < 1e-9
