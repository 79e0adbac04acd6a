"""Jetstream throughput: frame decode + normalise + brand prefilter, against bare json.loads.

The real firehose of all Bluesky posts is ~30–100 frames/s; the target here is
≥ 10,000 frames/s on this machine, so one core keeps up with a 100× burst.

Three workloads over the same generated frames (Jetstream commit events in the
documented shape, run in one process so the ratios are fair):

* ``json.loads`` only — the floor any JSON consumer pays;
* ``realistic`` — ~10 % of posts name a brand (the rest are dropped by the prefilter
  before a RawPost is built), plus identity events and likes;
* ``all brand`` — every frame is a brand post: the worst case, a RawPost per frame.

Run: ``python benchmarks/bench_listen.py [--frames 20000] [--zstd]``
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

from klachtradar.watchlist import load_watchlist
from listener.fixtures import payloads as p
from listener.jetstream import JetstreamOptions, JetstreamSource
from listener.prefilter import BrandPrefilter

ROOT = Path(__file__).resolve().parents[1]

BRAND_TEXTS = [e.text for e in p.EXAMPLES if e.brand]
OTHER_TEXTS = [
    "Mooi weer vandaag, lekker gefietst langs de Amstel",
    "Just finished a great book, highly recommend it to everyone",
    "Wie heeft er tips voor een goede pizzeria in Utrecht?",
    "La réunion a été reportée à demain matin",
    "Lange vergadering gehad, nu eindelijk thuis met een biertje",
    "Good morning everyone! Coffee first, then the world ☕",
]


def make_frames(n: int, brand_share: float, seed: int = 7) -> list[str]:
    """``n`` frames: posts (``brand_share`` of them naming a brand), identity events, likes."""
    rng = random.Random(seed)
    frames: list[str] = []
    for i in range(n):
        roll = rng.random()
        if brand_share < 1.0 and roll < 0.03:
            frames.append(json.dumps(p.jetstream_identity(i)))
            continue
        if brand_share < 1.0 and roll < 0.06:
            like = p.jetstream_post(i)
            like["commit"]["collection"] = "app.bsky.feed.like"
            like["commit"]["record"] = {"$type": "app.bsky.feed.like", "subject": {"uri": "at://x"}}
            frames.append(json.dumps(like))
            continue
        pool = BRAND_TEXTS if rng.random() < brand_share else OTHER_TEXTS
        text = f"{rng.choice(pool)} ({i})"
        frames.append(json.dumps(p.jetstream_post(i, text=text)))
    return frames


def rate(
    label: str,
    frames: list[str] | list[bytes],
    make: Callable[[], Callable[[str | bytes], object]],
    repeat: int = 3,
) -> float:
    """Best of ``repeat`` runs, in frames per second; ``make`` gives a fresh handler per run
    (a fresh source, so its duplicate memory never short-cuts the work)."""
    best = float("inf")
    for _ in range(repeat):
        fn = make()
        started = time.perf_counter()
        for frame in frames:
            fn(frame)
        best = min(best, time.perf_counter() - started)
    per_s = len(frames) / best
    print(f"  {label:<46} {per_s:>10,.0f} frames/s  ({best * 1e6 / len(frames):6.1f} µs/frame)")
    return per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--zstd", action="store_true", help="also measure zstd frames")
    args = parser.parse_args()

    prefilter = BrandPrefilter(load_watchlist(ROOT / "configs" / "brands.toml"))

    def source_handler() -> Callable[[str | bytes], object]:
        return JetstreamSource(JetstreamOptions(url="ws://bench"), prefilter).handle

    def json_loads() -> Callable[[str | bytes], object]:
        return json.loads

    realistic = make_frames(args.frames, brand_share=0.10)
    all_brand = make_frames(args.frames, brand_share=1.0)
    print(f"Jetstream frames: {args.frames:,} per workload, best of 3, one process")
    base_real = rate("json.loads only (realistic frames)", realistic, json_loads)
    full = rate("decode + normalise + match (realistic)", realistic, source_handler)
    base_brand = rate("json.loads only (all-brand frames)", all_brand, json_loads)
    worst = rate("decode + normalise + match (all brand)", all_brand, source_handler)
    handle = source_handler()
    published = sum(1 for f in realistic if handle(f) is not None)
    print(f"  realistic: {published:,} of {args.frames:,} frames became posts")
    print(
        f"  vs bare json.loads: realistic {full / base_real:.2f}× its speed, "
        f"all brand {worst / base_brand:.2f}×"
    )
    if args.zstd:
        import zstandard

        compressor = zstandard.ZstdCompressor()
        packed = [compressor.compress(f.encode()) for f in realistic]
        rate("zstd + decode + normalise + match (realistic)", packed, source_handler)
    target = 10_000
    slowest = min(full, worst)
    verdict = "OK" if slowest >= target else "BELOW TARGET"
    print(f"target >= {target:,} frames/s: {verdict} (slowest workload {slowest:,.0f}/s)")


if __name__ == "__main__":
    main()
