"""Fine-tune the e5 LoRA classifier on the corpus (train, early stop + calibrate on dev).

python scripts/train_e5.py [--epochs 5] [--version V] [--out models]
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

from classify.e5_classifier import E5TrainConfig, load_examples, train_e5

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--version", default=None)
    parser.add_argument("--out", type=Path, default=ROOT / "models")
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "cache" / "e5")
    args = parser.parse_args()
    files = {name: ROOT / "data" / "corpus" / f"{name}.jsonl" for name in ("train", "dev")}
    hashes = {n: hashlib.sha256(p.read_bytes()).hexdigest() for n, p in files.items()}
    train, dev = load_examples(files["train"]), load_examples(files["dev"])
    started = time.perf_counter()
    path = train_e5(
        train,
        dev,
        cache_dir=args.cache,
        out_dir=args.out,
        config=E5TrainConfig(epochs=args.epochs),
        version=args.version,
        data_files={f"data/corpus/{n}.jsonl": h for n, h in hashes.items()},
    )
    print(f"wrote {path} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
