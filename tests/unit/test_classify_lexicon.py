"""The lexicon backend: negation, intensifiers, emoji, sarcasm, cues, and its explanations."""

from __future__ import annotations

import pytest

from classify.base import Prediction
from classify.lexicon import LexiconClassifier, adjective_polarity, rule_features
from klachtradar.contract import Cue, Intent, Sentiment

clf = LexiconClassifier()


def judge(text: str) -> Prediction:
    return clf.predict_proba([text])[0]


def top(proba: dict[Sentiment, float] | dict[Intent, float]) -> str:
    return max(proba, key=proba.__getitem__).value  # type: ignore[arg-type]


def test_negation_flips_praise_into_negative() -> None:
    assert top(judge("De service was niet goed").sentiment) == "negatief"
    assert top(judge("De service was goed").sentiment) == "positief"


def test_an_intensifier_strengthens_the_word_after_it() -> None:
    plain = judge("slecht geregeld").sentiment[Sentiment.NEGATIEF]
    strong = judge("echt heel slecht geregeld").sentiment[Sentiment.NEGATIEF]
    assert strong > plain


def test_emoji_carry_sentiment() -> None:
    assert top(judge("@bol 😡😡").sentiment) == "negatief"
    assert top(judge("@bol 😍👍").sentiment) == "positief"


def test_sarcastic_praise_is_a_negative_complaint_and_says_why() -> None:
    p = judge("Lekker bezig weer @NS, 3e keer deze week vertraging 🙄")
    assert top(p.sentiment) == "negatief"
    assert top(p.intent) == "klacht"
    assert "sarcasme" in p.evidence


def test_a_complaint_phrased_as_a_question_is_a_complaint() -> None:
    p = judge("Waarom is mijn internet ALWEER weg @Ziggo?")
    assert top(p.intent) == "klacht"
    assert any(e.startswith("klachtvraag") for e in p.evidence)


def test_a_genuine_question_is_a_question() -> None:
    assert top(judge("Kan ik mijn abonnement ook online verlengen?").intent) == "vraag"


def test_cues_are_recognised() -> None:
    p = judge("Al weken geen internet, ik stap over en ga naar de Consumentenbond!")
    assert p.cues[Cue.CHURN] >= 0.5
    assert p.cues[Cue.MEDIA] >= 0.5
    assert p.cues[Cue.HERHAALD] >= 0.5


def test_evidence_lists_the_words_that_decided() -> None:
    p = judge("Bedankt voor de snelle hulp, top!")
    assert "+top" in p.evidence
    assert any(e.startswith("dank:") for e in p.evidence)


def test_pattern_adjectives_cover_inflected_forms() -> None:
    assert adjective_polarity("vervelend") < 0
    assert adjective_polarity("vervelende") < 0
    assert adjective_polarity("net") == 0.0  # "just", not "neat"


def test_rule_features_flag_cues_and_sarcasm() -> None:
    features = rule_features("Top service weer 🙄 ik zeg mijn abonnement op")
    assert features[0] == 1.0  # churn
    assert features[-2:] == [1.0, 1.0]  # sarcasm marker, with eye-roll


@pytest.mark.parametrize(
    "text", ["", "🙄", "https://t.co/x", "x" * 10_000, "\x00\x1b[2J", "Das ist gut", "   "]
)
def test_odd_input_gets_a_valid_prediction(text: str) -> None:
    p = judge(text)
    assert sum(p.sentiment.values()) == pytest.approx(1.0)
    assert sum(p.intent.values()) == pytest.approx(1.0)
