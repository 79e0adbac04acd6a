"""A new e5 version: an existing one's adapters, plus a lexicon blend weight fitted on dev.

python scripts/blend_e5_with_lexicon.py [--from v1] [--dev data/corpus/dev.jsonl]
                                       [--serve-max-length N]

Models trained since :mod:`classify.lexicon_blend` existed fit the weight themselves;
this gives an older one the same step without retraining (the adapters and heads are
copied byte for byte). The weight comes from the dev split only — the external sets
are never read here — and the new card records the grid's dev scores.
``--serve-max-length`` also sets the tokens read per post at serving time
(``E5Classifier.max_length``; default: the training length).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

from classify.e5_classifier import (
    CARD_FILE,
    E5Classifier,
    fit_lexicon_weight,
    load_examples,
)
from classify.model_store import ModelStore, e5_cache_dir

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--name", default="e5")
    parser.add_argument("--from", dest="source", default="v1")
    parser.add_argument("--dev", type=Path, default=ROOT / "data" / "corpus" / "dev.jsonl")
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--serve-max-length", type=int, default=None)
    args = parser.parse_args()

    store = ModelStore(args.models)
    source = store.get(args.name, args.source)
    model = E5Classifier.load(source.path, cache_dir=e5_cache_dir())
    dev = load_examples(args.dev)
    s, i, c = model.logits([e.text for e in dev])
    weight, scores = fit_lexicon_weight(s, i, c, dev, model.card["temperatures"])
    print(f"lexicon weight {weight} (dev: {scores})")

    version = store.next_version(args.name)
    staging = store.staging_dir(args.name, version)
    for item in source.path.iterdir():
        if item.is_file() and item.name not in {"card.json", "labels.json", "MODEL_CARD.md"}:
            shutil.copy2(item, staging / item.name)
    e5_card = json.loads((staging / CARD_FILE).read_text(encoding="utf-8"))
    e5_card.update(version=version, lexicon_weight=weight, lexicon_blend_dev=scores)
    if args.serve_max_length:
        e5_card["serve_max_length"] = args.serve_max_length
    (staging / CARD_FILE).write_text(json.dumps(e5_card, indent=2), encoding="utf-8")

    card = {k: v for k, v in source.card.items() if k != "evaluation"}
    card["version"] = version
    card["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    card["params"] = {**card.get("params", {}), "lexicon_weight": weight}
    if args.serve_max_length:
        card["params"]["serve_max_length"] = args.serve_max_length
    card["data"] = {
        **card.get("data", {}),
        "blend_dev": {
            "path": str(args.dev.relative_to(ROOT))
            if args.dev.is_relative_to(ROOT)
            else str(args.dev),
            "sha256": hashlib.sha256(args.dev.read_bytes()).hexdigest(),
            "records": len(dev),
        },
    }
    reads = (
        f"; reads up to {args.serve_max_length} tokens per post when serving"
        if args.serve_max_length
        else ""
    )
    card["note"] = (
        f"{args.name} {args.source}'s adapters and heads, unchanged, blended with the lexicon "
        f"at weight {weight} (fitted on dev by scripts/blend_e5_with_lexicon.py; grid "
        f"scores {scores}){reads}. {source.card.get('note', '')}"
    ).strip()
    committed = store.commit(staging, args.name, version, card)
    print(f"wrote {committed.path}")


if __name__ == "__main__":
    main()
