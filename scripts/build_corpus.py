"""Assemble the demo stream and the train/dev/test splits from the hand-written parts.

The *texts and labels* in ``data/corpus/parts/*.jsonl`` are written by hand (see
``data/corpus/README.md``). This script only adds what a listener would have seen
around them — author, follower count, timestamp, engagement, platform — from a fixed
seed, places the scripted stories on the timeline, appends deliberately malformed
lines, and writes:

* ``data/demo/stream.jsonl``        contract ``RawPost`` lines in time order (+ bad lines)
* ``data/corpus/{train,dev,test}.jsonl``  LABELS.md records, about 70/15/15

**A post keeps its split forever.** The shipped models were trained on ``train.jsonl``
and scored on ``test.jsonl``; if a rebuild moved a test post into train, every score
taken since would silently become a score on training data (issue 22: a reshuffle
after adding one parts file put 183 of 264 new test posts in v1's training data). So:

1. The previous assignment is read from the current ``train/dev/test.jsonl``
   themselves (:func:`previous_splits`): they are committed, they are exactly what the
   models saw, and a separate manifest could drift from them. A post found there keeps
   its split — looked up by id, and by normalised text when its id changed (an edited
   shipped part shifts the seeded platforms and with them the ids that follow). With
   none of the three files the build starts fresh; with only some it stops, since a
   partial record would let posts move.
2. A post not seen before is placed by a hash of its id (:func:`hash_split`): 15 % test,
   15 % dev, 70 % train, the same on every machine and every run, whatever else is
   added. (The very first split was stratified by intent from a seeded shuffle; that
   assignment lives on in the files.)
3. The demo stream is built only from the shipped parts (:data:`DEMO_PARTS`), so a
   user's parts file adds labelled records and leaves the stream, and the ids in it,
   byte-for-byte alone. Records of other parts files carry their own ``id`` or get
   ``corpus:<hash of the text>``.

An unchanged checkout rebuilds all four files byte-identical.

Run: ``python scripts/build_corpus.py [--root DIR]`` (deterministic: same parts and
same previous split → same files).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import random
import re
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPLITS = ("train", "dev", "test")
DEMO_PARTS = (
    "10_telecom.jsonl",
    "20_transport.jsonl",
    "30_finance.jsonl",
    "40_energy_food.jsonl",
    "50_retail.jsonl",
    "60_hard_cases.jsonl",
    "70_stories.jsonl",
)
"""The shipped parts: the demo stream is built from these, in this order, and no other."""
TEST_SHARE = 0.15
DEV_SHARE = 0.15
SEED = 20261123
START = datetime(2026, 9, 28, 6, 0, tzinfo=UTC)  # a Monday; six weeks follow
DAYS = 42

STORY_START = {
    "youp": START + timedelta(days=0, hours=3, minutes=12),
    "lof": START + timedelta(days=13, hours=3, minutes=5),  # a Sunday morning
    "grof": START + timedelta(days=19, hours=4, minutes=5),
    "storing": START + timedelta(days=31, hours=13, minutes=42),  # a Friday evening
}

FIRST = [
    "sanne",
    "lisa",
    "emma",
    "anouk",
    "fleur",
    "lotte",
    "iris",
    "noor",
    "sophie",
    "julia",
    "eva",
    "anna",
    "laura",
    "marieke",
    "ingrid",
    "petra",
    "kim",
    "linda",
    "mariska",
    "esther",
    "fatima",
    "samira",
    "yasmin",
    "aylin",
    "priya",
    "daan",
    "bram",
    "thijs",
    "sem",
    "lucas",
    "jesse",
    "niels",
    "ruben",
    "jeroen",
    "mark",
    "erik",
    "bas",
    "kees",
    "henk",
    "gerrit",
    "wim",
    "pieter",
    "mohamed",
    "youssef",
    "mehmet",
    "ahmed",
    "kevin",
    "dennis",
    "rick",
    "stefan",
    "tim",
    "joost",
    "floor",
    "hanneke",
]
LAST = [
    "devries",
    "jansen",
    "bakker",
    "visser",
    "smit",
    "meijer",
    "degroot",
    "bos",
    "vos",
    "peters",
    "hendriks",
    "mulder",
    "dijkstra",
    "vanleeuwen",
    "dekker",
    "brouwer",
    "dewit",
    "dijk",
    "vandijk",
    "kok",
    "jacobs",
    "vermeulen",
    "vandenberg",
    "schouten",
    "willems",
    "hoekstra",
    "koster",
    "prins",
    "huisman",
    "kuipers",
    "yilmaz",
    "elamrani",
    "postma",
    "boer",
    "kramer",
    "veenstra",
]
PLATFORMS = (("x", 0.7), ("bluesky", 0.2), ("mastodon", 0.1))
FOLLOWERS = {  # (median, sigma, low, high) of a log-normal per author kind
    "consument": (260, 1.3, 5, 60_000),
    "bekend": (90_000, 1.0, 8_000, 2_000_000),
    "nieuws": (120_000, 1.1, 5_000, 1_800_000),
    "merk": (60_000, 1.0, 5_000, 900_000),
    "zakelijk": (2_500, 1.0, 150, 40_000),
    "bot": (40, 1.0, 5, 900),
}
VERIFIED_SHARE = {"bekend": 0.9, "nieuws": 0.8, "merk": 0.95, "zakelijk": 0.15}


def read_parts(parts: Path) -> list[dict[str, Any]]:
    """All hand-written records, in part order, with their origin."""
    records = []
    for path in sorted(parts.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    record = json.loads(line)
                    check_record(record)
                except ValueError as exc:
                    sys.exit(f"{path}:{number}: not a parts record ({exc})")
                record["_part"] = f"{path.name}:{number}"
                record["_demo"] = path.name in DEMO_PARTS
                records.append(record)
    return records


def check_record(record: Any) -> None:
    """Raise ``ValueError`` naming the first field a parts record lacks (LABELS.md)."""
    if not isinstance(record, dict):
        raise ValueError("not a JSON object")
    for key in ("text", "sentiment", "intent"):
        if not isinstance(record.get(key), str) or not record[key]:
            raise ValueError(f"field {key!r} must be a non-empty string")
    if not isinstance(record.get("cues"), list):
        raise ValueError("field 'cues' must be a list (may be empty)")
    if "id" in record and not isinstance(record["id"], str):
        raise ValueError("field 'id' must be a string")


def stable_id(text: str, digits: int) -> str:
    """A numeric id derived from the text, so ids survive reordering of the parts."""
    value = int(hashlib.sha256(text.encode()).hexdigest(), 16)
    return str(value % 10**digits).zfill(digits)


def followers_for(kind: str, rng: random.Random) -> int:
    median, sigma, low, high = FOLLOWERS.get(kind, FOLLOWERS["consument"])
    value = math.exp(math.log(median) + sigma * rng.gauss(0, 1))
    return int(min(high, max(low, value)))


def random_time(rng: random.Random) -> datetime:
    """A moment in the six weeks, weighted to waking hours like real traffic."""
    day = rng.randrange(DAYS)
    hour = rng.choices(
        range(24),
        weights=[1, 1, 1, 1, 1, 2, 4, 7, 9, 9, 8, 8, 8, 8, 8, 8, 9, 9, 10, 11, 11, 9, 6, 3],
    )[0]
    return START.replace(hour=0) + timedelta(
        days=day, hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60)
    )


class Authors:
    """A pool of invented accounts; some people post more than once."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.used: set[str] = set()

    def new(self, kind: str, brand: str | None) -> dict[str, Any]:
        rng = self.rng
        if kind == "merk" and brand:
            handle = re.sub(r"\W", "", brand) + rng.choice(["", "_nl", "webcare", "NL"])
            name = brand
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            handle = rng.choice(
                [
                    f"{first}_{last}",
                    f"{first}{rng.randrange(70, 100)}",
                    f"{first}{last[:3]}",
                    f"{first}.{last}",
                    f"{last}{first[0]}",
                    f"{first}_nl",
                    f"x{first}x",
                    f"{first}{rng.randrange(1, 999)}",
                ]
            )
            name = f"{first.capitalize()} {last[:1].upper()}."
            if kind == "nieuws":
                handle = rng.choice(["nieuwsnl", "dagblad_", "omroep_", "regio", "nu_"]) + last
                name = f"Nieuws {last.capitalize()}"
        while handle in self.used:
            handle += str(rng.randrange(10))
        self.used.add(handle)
        return {
            "id": stable_id(handle, 12),
            "handle": handle,
            "name": name,
            "followers": followers_for(kind, rng),
            "verified": rng.random() < VERIFIED_SHARE.get(kind, 0.01),
        }

    def pick(self, kind: str, brand: str | None) -> dict[str, Any]:
        pool = self.by_kind[kind]
        if pool and kind != "merk" and self.rng.random() < 0.12:
            return self.rng.choice(pool)
        author = self.new(kind, brand)
        pool.append(author)
        return author


def engagement_for(followers: int, intent: str, rng: random.Random) -> dict[str, int]:
    base = followers * math.exp(rng.gauss(math.log(0.002), 1.2))
    if intent == "klacht":
        base *= 1.5
    reposts = int(base)
    return {
        "reposts": reposts,
        "quotes": int(reposts * rng.uniform(0, 0.3)),
        "replies": int(base * rng.uniform(0.3, 2.0)) + rng.randrange(3),
        "likes": int(base * rng.uniform(2, 8)) + rng.randrange(5),
    }


def post_identity(platform: str, handle: str, text: str) -> tuple[str, str]:
    """(post_id, url) in the platform's own style."""
    if platform == "x":
        post_id = "18" + stable_id(text, 17)
        return post_id, f"https://x.com/{handle}/status/{post_id}"
    if platform == "bluesky":
        rkey = "3l" + hashlib.sha1(text.encode()).hexdigest()[:11]
        did = "did:plc:" + hashlib.sha1(handle.encode()).hexdigest()[:24]
        return (
            f"at://{did}/app.bsky.feed.post/{rkey}",
            f"https://bsky.app/profile/{handle}.bsky.social/post/{rkey}",
        )
    post_id = "11" + stable_id(text, 16)
    return post_id, f"https://mastodon.social/@{handle}/{post_id}"


def raw_post(
    record: dict[str, Any],
    author: dict[str, Any],
    platform: str,
    created: datetime,
    engagement: dict[str, int],
    rng: random.Random,
) -> dict[str, Any]:
    post_id, url = post_identity(platform, author["handle"], record["text"])
    observed = created + timedelta(minutes=rng.randrange(30, 24 * 60))
    text = record["text"]
    return {
        "schema_version": "1.0",
        "source": platform,
        "post_id": post_id,
        "url": url,
        "text": text,
        "created_at": created.isoformat().replace("+00:00", "Z"),
        "received_at": (created + timedelta(seconds=rng.randrange(1, 20)))
        .isoformat()
        .replace("+00:00", "Z"),
        "author": {
            "id": author["id"],
            "handle": author["handle"],
            "name": author["name"],
            "followers": author["followers"],
            "verified": author["verified"],
        },
        "engagement": {**engagement, "observed_at": observed.isoformat().replace("+00:00", "Z")},
        "mentions": re.findall(r"(?<!\w)@(\w+)", text),
        "hashtags": re.findall(r"(?<![\w&])#(\w+)", text),
    }


def story_post(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    created = STORY_START[record["story"]] + timedelta(
        minutes=record["t_min"], seconds=rng.randrange(60)
    )
    author = {
        "id": stable_id(record["author"], 12),
        "handle": record["author"],
        "name": record["author_name"],
        "followers": record["followers"],
        "verified": record["verified"],
    }
    engagement = {k: record[k] for k in ("reposts", "quotes", "replies", "likes")}
    post = raw_post(record, author, "x", created, engagement, rng)
    # Story engagement was counted a couple of hours in: that is what makes it viral.
    post["engagement"]["observed_at"] = (
        (created + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    )
    return post


MALFORMED: list[bytes] = [
    b'{"schema_version": "1.0", "source": "x", "post_id": "1", "text": "@KPN kapot',
    b'{"schema_version": "1.0", "source": "x", "post_id": "2", "created_at": '
    b'"2026-10-01T10:00:00Z", "author": {"id": "9", "handle": "anon"}}',
    b'{"schema_version": "1.0", "source": "x", "post_id": "3", "text": "Ziggo weer plat", '
    b'"created_at": "2026-10-02T10:00:00Z", "author": {"id": "9", "handle": "anon", '
    b'"followers": "heel veel"}}',
    b'{"schema_version": "1.0", "source": "x", "post_id": "4", "text": "NS vertraging", '
    b'"created_at": "gisteren", "author": {"id": "9", "handle": "anon"}}',
    b"[1, 2, 3]",
    b'{"schema_version": "7.0", "source": "x", "post_id": "5", "text": "uit de toekomst", '
    b'"created_at": "2026-10-03T10:00:00Z", "author": {"id": "9", "handle": "anon"}}',
    '{"schema_version": "1.0", "source": "x", "post_id": "6", "text": "café kapot @PostNL", '
    '"created_at": "2026-10-04T10:00:00Z", "author": {"id": "9", "handle": "anon"}}'.encode(
        "latin-1"
    ),
    b"{}",
]


def normalised(text: str) -> str:
    """Lower case, white space folded: how a post is recognised when its id changed."""
    return " ".join(text.lower().split())


def previous_splits(corpus: Path) -> tuple[dict[str, str], dict[str, str]]:
    """The split every post had in the last build: ``(by id, by normalised text)``.

    Read from ``corpus/{train,dev,test}.jsonl``. None of them: a fresh build (empty
    maps). Some but not all: an error, as the missing file's posts could move.
    """
    present = [name for name in SPLITS if (corpus / f"{name}.jsonl").is_file()]
    if not present:
        return {}, {}
    if len(present) < len(SPLITS):
        missing = ", ".join(f"{n}.jsonl" for n in SPLITS if n not in present)
        sys.exit(
            f"{corpus}: {missing} missing; the previous split is read from all three "
            "(restore it with git checkout, or remove all three for a fresh split)"
        )
    by_id: dict[str, str] = {}
    by_text: dict[str, str] = {}
    for name in SPLITS:
        path = corpus / f"{name}.jsonl"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                post_id, text = str(row["id"]), str(row["text"])
            except (ValueError, KeyError, TypeError) as exc:
                sys.exit(f"{path}:{number}: not a split record ({exc})")
            by_id.setdefault(post_id, name)
            by_text.setdefault(normalised(text), name)
    return by_id, by_text


def hash_split(post_id: str) -> str:
    """The split of a post never seen before: a stable hash of its id, 15/15/70."""
    digest = hashlib.sha256(f"klachtradar-split:{post_id}".encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    if share < TEST_SHARE:
        return "test"
    return "dev" if share < TEST_SHARE + DEV_SHARE else "train"


def assign_splits(
    records: Sequence[dict[str, Any]], by_id: dict[str, str], by_text: dict[str, str]
) -> dict[str, list[dict[str, Any]]]:
    """Every record in the split it had before (by id, then text), else by its id's hash."""
    splits: dict[str, list[dict[str, Any]]] = {name: [] for name in SPLITS}
    for record in records:
        name = (
            by_id.get(record["id"])
            or by_text.get(normalised(record["text"]))
            or hash_split(record["id"])
        )
        splits[name].append(record)
    return {name: sorted(rows, key=lambda r: r["id"]) for name, rows in splits.items()}


def labelled_record(record: dict[str, Any], post_id: str) -> dict[str, Any]:
    """The LABELS.md record of one parts record."""
    return {
        "id": post_id,
        "text": record["text"],
        "sentiment": record["sentiment"],
        "intent": record["intent"],
        "cues": record["cues"],
        "brand": record.get("brand"),
        "lang": record.get("lang", "nl"),
        "author_kind": record.get("author_kind"),
        "story": record.get("story"),
    }


def demo_post(record: dict[str, Any], rng: random.Random, authors: Authors) -> dict[str, Any]:
    """The contract ``RawPost`` a listener would have seen for one shipped record."""
    if "story" in record:
        return story_post(record, rng)
    kind = record.get("author_kind", "consument")
    author = authors.pick(kind, record.get("brand"))
    platform = rng.choices([p for p, _ in PLATFORMS], [w for _, w in PLATFORMS])[0]
    return raw_post(
        record,
        author,
        platform,
        random_time(rng),
        engagement_for(author["followers"], record["intent"], rng),
        rng,
    )


def build(root: Path) -> None:
    """Write the demo stream and the three splits under ``root``."""
    corpus = root / "data" / "corpus"
    by_id, by_text = previous_splits(corpus)
    rng = random.Random(SEED)
    authors = Authors(rng)
    posts: list[dict[str, Any]] = []
    labelled: list[dict[str, Any]] = []
    for record in read_parts(corpus / "parts"):
        if record["_demo"]:
            post = demo_post(record, rng, authors)
            posts.append(post)
            post_id = f"{post['source']}:{post['post_id']}"
        else:
            post_id = str(record.get("id") or "corpus:" + stable_id(normalised(record["text"]), 16))
        labelled.append(labelled_record(record, post_id))
    posts.sort(key=lambda p: (p["created_at"], p["post_id"]))
    lines = [json.dumps(p, ensure_ascii=False).encode("utf-8") for p in posts]
    for i, bad in enumerate(MALFORMED):  # spread the bad lines through the stream
        lines.insert((i + 1) * len(lines) // (len(MALFORMED) + 1), bad)
    demo = root / "data" / "demo" / "stream.jsonl"
    demo.parent.mkdir(parents=True, exist_ok=True)
    demo.write_bytes(b"\n".join(lines) + b"\n")
    for name, rows in assign_splits(labelled, by_id, by_text).items():
        out = corpus / f"{name}.jsonl"
        out.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        kept = sum(1 for r in rows if r["id"] in by_id or normalised(r["text"]) in by_text)
        print(f"{out.relative_to(root)}: {len(rows)} records ({len(rows) - kept} new)")
    print(f"{demo.relative_to(root)}: {len(posts)} posts + {len(MALFORMED)} malformed lines")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="project folder (default: this checkout)"
    )
    build(parser.parse_args(argv).root)


if __name__ == "__main__":
    main()
