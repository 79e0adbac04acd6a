"""Assemble the demo stream and the train/dev/test splits from the hand-written parts.

The *texts and labels* in ``data/corpus/parts/*.jsonl`` are written by hand (see
``data/corpus/README.md``). This script only adds what a listener would have seen
around them — author, follower count, timestamp, engagement, platform — from a fixed
seed, places the scripted stories on the timeline, appends deliberately malformed
lines, and writes:

* ``data/demo/stream.jsonl``        contract ``RawPost`` lines in time order (+ bad lines)
* ``data/corpus/{train,dev,test}.jsonl``  LABELS.md records, stratified 70/15/15

Run: ``python scripts/build_corpus.py`` (deterministic: same parts → same files).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PARTS = ROOT / "data" / "corpus" / "parts"
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


def read_parts() -> list[dict[str, Any]]:
    """All hand-written records, in part order, with their origin."""
    records = []
    for path in sorted(PARTS.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                record = json.loads(line)
                record["_part"] = f"{path.name}:{number}"
                records.append(record)
    return records


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


def stratified_split(records: list[dict[str, Any]], rng: random.Random) -> dict[str, list]:
    by_intent: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        by_intent[record["intent"]].append(record)
    splits: dict[str, list[dict[str, Any]]] = {"train": [], "dev": [], "test": []}
    for intent in sorted(by_intent):
        group = sorted(by_intent[intent], key=lambda r: r["id"])
        rng.shuffle(group)
        n_test = round(len(group) * 0.15)
        n_dev = round(len(group) * 0.15)
        splits["test"] += group[:n_test]
        splits["dev"] += group[n_test : n_test + n_dev]
        splits["train"] += group[n_test + n_dev :]
    return {name: sorted(rows, key=lambda r: r["id"]) for name, rows in splits.items()}


def main() -> None:
    rng = random.Random(SEED)
    authors = Authors(rng)
    posts: list[dict[str, Any]] = []
    labelled: list[dict[str, Any]] = []
    for record in read_parts():
        if "story" in record:
            post = story_post(record, rng)
        else:
            kind = record.get("author_kind", "consument")
            author = authors.pick(kind, record.get("brand"))
            platform = rng.choices([p for p, _ in PLATFORMS], [w for _, w in PLATFORMS])[0]
            post = raw_post(
                record,
                author,
                platform,
                random_time(rng),
                engagement_for(author["followers"], record["intent"], rng),
                rng,
            )
        posts.append(post)
        labelled.append(
            {
                "id": f"{post['source']}:{post['post_id']}",
                "text": record["text"],
                "sentiment": record["sentiment"],
                "intent": record["intent"],
                "cues": record["cues"],
                "brand": record.get("brand"),
                "lang": record.get("lang", "nl"),
                "author_kind": record.get("author_kind"),
                "story": record.get("story"),
            }
        )
    posts.sort(key=lambda p: (p["created_at"], p["post_id"]))
    lines = [json.dumps(p, ensure_ascii=False).encode("utf-8") for p in posts]
    for i, bad in enumerate(MALFORMED):  # spread the bad lines through the stream
        lines.insert((i + 1) * len(lines) // (len(MALFORMED) + 1), bad)
    demo = ROOT / "data" / "demo" / "stream.jsonl"
    demo.parent.mkdir(parents=True, exist_ok=True)
    demo.write_bytes(b"\n".join(lines) + b"\n")
    for name, rows in stratified_split(labelled, rng).items():
        out = ROOT / "data" / "corpus" / f"{name}.jsonl"
        out.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        print(f"{out.relative_to(ROOT)}: {len(rows)} records")
    print(f"{demo.relative_to(ROOT)}: {len(posts)} posts + {len(MALFORMED)} malformed lines")


if __name__ == "__main__":
    main()
