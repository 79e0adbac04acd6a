"""The shipped tone model: its card meets issue 17's targets on the held-out batch, and
it reads the demo's PostNL replies as a webcare lead would."""

from __future__ import annotations

import json
from pathlib import Path

from classify.tone import load_tone_classifier
from classify.tone_training import evaluate_tone_model, read_tone_data
from klachtradar.contract import Tone

ROOT = Path(__file__).resolve().parents[2]
POLITE = (
    "@sanne_vd_berg Hoi Sanne, vervelend dat je pakket niet is aangekomen! Stuur je ons een "
    "DM met je barcode en adres? Dan zoeken we het voor je uit. ^Jeroen"
)
RUDE = (
    "@sanne_vd_berg We hebben je DM heus wel gezien hoor, je hoeft niet om de paar uur te "
    "komen zeuren. Er zijn meer mensen met een pakketje. Even geduld dus, of ga anders zelf "
    "nog een rondje bij de buren bellen. ^Jeroen"
)


def test_the_held_out_batch_meets_the_targets() -> None:
    clf = load_tone_classifier("tone", ROOT / "models")
    scores = evaluate_tone_model(clf, ROOT / "data" / "tone" / "heldout.jsonl")
    assert scores["macro_f1"] >= 0.85
    assert scores["per_tone"]["grof"]["recall"] >= 0.90
    card = json.loads((ROOT / "models" / "tone" / "v1" / "card.json").read_text())
    assert card["metrics_heldout"]["macro_f1"] == scores["macro_f1"]


def test_train_and_held_out_share_no_reply() -> None:
    train = read_tone_data(ROOT / "data" / "tone" / "train.jsonl")
    held = read_tone_data(ROOT / "data" / "tone" / "heldout.jsonl")
    assert len(train.texts) >= 400
    assert not set(train.texts) & set(held.texts)
    assert RUDE not in train.texts and POLITE not in train.texts


def test_the_demo_replies_get_their_tone_and_the_deciding_phrases() -> None:
    clf = load_tone_classifier("tone", ROOT / "models")
    polite, rude = clf.predict_proba([POLITE, RUDE])
    assert polite.tone is Tone.PROFESSIONEEL
    assert rude.tone is Tone.GROF and "zeuren" in rude.evidence
