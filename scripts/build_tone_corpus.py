"""Compose the brand-reply tone corpus from its hand-written parts.

``data/tone/parts/a_train.toml`` and ``b_heldout.toml`` hold hand-written pieces of
Dutch webcare replies per tone (greetings, body sentences, closings, signatures, and
whole replies). This script composes replies the way webcare writes them — ``@handle``,
a greeting, one or two sentences, a closing, a signature — from a fixed seed, and writes

* ``data/tone/train.jsonl``    from batch A only: what the tone model learns from;
* ``data/tone/heldout.jsonl``  from batch B only: evaluated on, never trained or tuned on.

The two batches share no piece, so the held-out score measures new phrasings, not
recombinations of sentences the model saw. Deterministic: same parts → same files.

Run: ``python scripts/build_tone_corpus.py [--root DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import tomllib
from pathlib import Path
from typing import Any

TONES = ("professioneel", "kortaf", "grof")
COMPOSED = {"a_train": 150, "b_heldout": 45}
"""Composed replies per tone and batch (the whole replies come on top)."""
TWO_BODIES = {"professioneel": 0.55, "kortaf": 0.3, "grof": 0.45}
SIGNED = {"professioneel": 0.8, "kortaf": 0.3, "grof": 0.5}
OUTPUT = {"a_train": "train.jsonl", "b_heldout": "heldout.jsonl"}


def compose(parts: dict[str, Any], tone: str, rng: random.Random) -> str:
    """One reply of ``tone`` from the batch's pieces."""
    pieces = parts[tone]
    number = rng.randrange(len(parts["names"]))
    name, handle = parts["names"][number], parts["handles"][number]
    count = 2 if rng.random() < TWO_BODIES[tone] and len(pieces["bodies"]) > 1 else 1
    words = [f"@{handle}"] if rng.random() < 0.85 else []
    greeting = rng.choice(pieces["greetings"]).format(name=name)
    words += [greeting] if greeting else []
    words += rng.sample(pieces["bodies"], count)
    closing = rng.choice(pieces["closings"])
    words += [closing] if closing else []
    if rng.random() < SIGNED[tone]:
        words.append(rng.choice(parts["signatures"]))
    return " ".join(words)


def build_batch(parts: dict[str, Any], batch: str) -> list[dict[str, str]]:
    """The whole replies, then composed ones until the batch's count, no duplicates."""
    rng = random.Random(f"tone:{batch}")
    records: list[dict[str, str]] = []
    seen: set[str] = set()
    for tone in TONES:
        texts = list(parts[tone]["whole"])
        attempts = 0
        while len(texts) < len(parts[tone]["whole"]) + COMPOSED[batch] and attempts < 10_000:
            attempts += 1
            texts.append(compose(parts, tone, rng))
        for text in texts:
            if text in seen:
                continue
            seen.add(text)
            digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
            records.append({"id": f"tone:{digest}", "text": text, "tone": tone, "batch": batch})
    rng.shuffle(records)
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args()
    folder = args.root / "data" / "tone"
    for batch, name in OUTPUT.items():
        parts = tomllib.loads((folder / "parts" / f"{batch}.toml").read_text(encoding="utf-8"))
        records = build_batch(parts, batch)
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        counts = {t: sum(r["tone"] == t for r in records) for t in TONES}
        print(f"{name}: {len(records)} replies {counts}")


if __name__ == "__main__":
    main()
