"""Recorded platform payloads through the listeners' own parsing code (issue 18).

The recordings in ``tests/recordings/`` are written for this project in the platforms'
exact delivery formats: X's filtered/compliance stream (JSON lines, CRLF, keep-alive
blank lines), Jetstream events (one per line), and Mastodon's streaming SSE text.
Each defect found on real traffic has a test here on a payload of that shape.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from klachtradar.contract import DeadLetter, DeletedPost, RawPost
from klachtradar.settings import Settings
from klachtradar.watchlist import load_watchlist
from listener.jetstream import JetstreamOptions, JetstreamSource
from listener.mastodon import MastodonOptions, MastodonSource
from listener.outcome import Outcome, Skip
from listener.prefilter import AcceptAll, BrandPrefilter
from listener.recording import read_recording
from listener.sources import build_source
from listener.webhook import parse_body
from listener.x_stream import XOptions, XSource

RECORDINGS = Path(__file__).parents[1] / "recordings"
X_FILE = RECORDINGS / "x_filtered_stream.jsonl"
JETSTREAM_FILE = RECORDINGS / "jetstream_posts.jsonl"
MASTODON_FILE = RECORDINGS / "mastodon_public.sse"


def outcomes(source: str, path: Path) -> list[Outcome]:
    return list(read_recording(source, path))


def posts(source: str, path: Path) -> list[RawPost]:
    return [o for o in outcomes(source, path) if isinstance(o, RawPost)]


def by_id(source: str, path: Path) -> dict[str, RawPost]:
    """The last version of each post (an edit comes later in the recording)."""
    return {p.post_id: p for p in posts(source, path)}


def x_lines() -> list[str]:
    return X_FILE.read_bytes().decode("utf-8").split("\r\n")


def x_source(settings: Settings) -> XSource:
    """The live X source (no connection is made until ``chunks``)."""
    watchlist = load_watchlist(settings.resolve(settings.watchlist.path))
    return XSource(XOptions(token="recorded", sync_rules=False, backfill=False), watchlist)


def mastodon_events() -> list[tuple[str, str]]:
    events = []
    for block in MASTODON_FILE.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.split("\n") if not line.startswith(":")]
        name = next((line[6:].strip() for line in lines if line.startswith("event:")), None)
        data = [line[5:].removeprefix(" ") for line in lines if line.startswith("data:")]
        if name is not None:
            events.append((name, "\n".join(data)))
    return events


# -- X ---------------------------------------------------------------------------------------


def test_x_html_entities_are_decoded_in_the_text(settings: Settings) -> None:
    post = x_source(settings)._line(x_lines()[0])
    assert isinstance(post, RawPost)
    assert post.text == "@KPNwebcare internet & tv liggen er weer uit >:( al 3 dagen <1 Mbit"


def test_an_x_edit_is_the_same_post_updated_in_place_and_published_again(
    settings: Settings,
) -> None:
    source = x_source(settings)
    original, edit = source._line(x_lines()[2]), source._line(x_lines()[3])
    assert isinstance(original, RawPost) and isinstance(edit, RawPost)
    assert original.doc_id == edit.doc_id == "x:1991550000000000100"
    assert edit.text.endswith("de derde keer deze maand!")
    assert edit.url == "https://x.com/joostjansen/status/1991550000000000177"
    assert source.checkpoint() == {"since_id": "1991550000000000177"}
    assert source._line(x_lines()[3]) is None  # the same version again: a duplicate


def test_x_language_codes_become_iso_639_1_or_unknown() -> None:
    langs = {p.post_id: p.lang for p in posts("x", X_FILE)}
    assert langs["1991550000000000200"] == "id"  # X's legacy "in" is Indonesian
    assert langs["1991550000000000210"] is None  # "qst": a very short text
    assert langs["1991550000000000220"] is None  # "und"
    assert langs["1991550000000000001"] == "nl"


def test_a_long_x_post_keeps_its_whole_note_tweet_text(settings: Settings) -> None:
    post = x_source(settings)._line(x_lines()[7])
    assert isinstance(post, RawPost)
    assert len(post.text) > 280
    assert post.text.endswith("anders ga ik naar de Consumentenbond en Radar.")
    assert "t.co" not in post.text
    assert post.mentions == ["bol"]


def test_x_compliance_deletes_in_both_shapes_become_delete_records(settings: Settings) -> None:
    source = x_source(settings)
    v2, legacy = source._line(x_lines()[8]), source._line(x_lines()[9])
    assert isinstance(v2, DeletedPost) and isinstance(legacy, DeletedPost)
    assert (v2.doc_id, v2.author_id) == ("x:1991550000000000001", "1550781")
    assert (legacy.doc_id, legacy.author_id) == ("x:1991550000000000300", "4410")
    assert v2.deleted_at.isoformat() == "2026-11-20T11:02:13.520000+00:00"


def test_x_withheld_in_the_netherlands_is_removed_elsewhere_kept(settings: Settings) -> None:
    source = x_source(settings)
    here, elsewhere = source._line(x_lines()[10]), source._line(x_lines()[11])
    assert isinstance(here, DeletedPost) and here.reason == "withheld"
    assert elsewhere is None


# -- Bluesky (Jetstream) ------------------------------------------------------------------


def jetstream(prefilter: BrandPrefilter | AcceptAll | None = None) -> JetstreamSource:
    return JetstreamSource(JetstreamOptions(), prefilter or AcceptAll())


def jetstream_lines() -> list[str]:
    return JETSTREAM_FILE.read_text(encoding="utf-8").splitlines()


def test_bluesky_links_are_the_full_uri_of_their_link_facet() -> None:
    post = jetstream().handle(jetstream_lines()[0])
    assert isinstance(post, RawPost)
    assert post.text == (
        "Storing bij NS weer, zie https://www.ns.nl/reisinformatie/storingen/utrecht-amersfoort"
        " voor niks want er staat niks"
    )


def test_bluesky_image_only_and_link_card_posts_carry_alt_text_and_card_words(
    settings: Settings,
) -> None:
    watchlist = load_watchlist(settings.resolve(settings.watchlist.path))
    source = jetstream(BrandPrefilter(watchlist))  # the brand is only in the alt/card text
    image, card = source.handle(jetstream_lines()[1]), source.handle(jetstream_lines()[2])
    assert isinstance(image, RawPost) and isinstance(card, RawPost)
    assert image.text.startswith("[afbeelding] Schermafbeelding van de Bol-app")
    assert card.text.startswith("[link] Storing Odido: klanten dagen zonder internet — Duizenden")
    assert card.text.endswith(
        "(https://www.consumentenbond.nl/nieuws/2026/storing-odido-klanten-dagen-zonder-internet)"
    )


def test_a_bluesky_quote_with_media_keeps_text_alt_text_and_the_quoted_uri() -> None:
    quote_only, with_media = (
        jetstream().handle(jetstream_lines()[3]),
        jetstream().handle(jetstream_lines()[4]),
    )
    assert isinstance(quote_only, RawPost) and isinstance(with_media, RawPost)
    subject = "at://did:plc:q6gjnaw2blty4crticxkmujt/app.bsky.feed.post/3m6ab2xq4gk2c"
    assert quote_only.quote_of == with_media.quote_of == subject
    assert (
        with_media.text
        == "dit dus\n\n[afbeelding] Foto van een lege NS-perron bij Utrecht Centraal"
    )


def test_a_jetstream_update_is_published_again_and_a_delete_becomes_a_delete_record() -> None:
    source = jetstream()
    lines = jetstream_lines()
    first, edit, gone = source.handle(lines[0]), source.handle(lines[5]), source.handle(lines[6])
    assert isinstance(first, RawPost) and isinstance(edit, RawPost)
    assert edit.doc_id == first.doc_id and edit.text.endswith("nu ook Amersfoort")
    assert isinstance(gone, DeletedPost)
    assert (
        gone.doc_id
        == "bluesky:at://did:plc:7x2mdk4ejb3bqz6gwn5c2yuh/app.bsky.feed.post/3m6ab3a7pqs2n"
    )
    assert gone.author_id == "did:plc:7x2mdk4ejb3bqz6gwn5c2yuh"
    assert [source.handle(line) for line in lines[7:10]] == [None, None, None]


# -- Mastodon -------------------------------------------------------------------------------


def mastodon() -> MastodonSource:
    return MastodonSource(MastodonOptions(token="recorded"), AcceptAll())


def test_mastodon_long_links_keep_their_hidden_parts() -> None:
    name, payload = mastodon_events()[0]
    post = mastodon()._event(name, payload)
    assert isinstance(post, RawPost)
    assert post.text.endswith("https://www.eneco.nl/klantenservice/storingen-en-onderbrekingen/")


def test_mastodon_quotes_are_recognised_and_counted() -> None:
    events = mastodon_events()
    quote, shallow = mastodon()._event(*events[1]), mastodon()._event(*events[2])
    assert isinstance(quote, RawPost) and isinstance(shallow, RawPost)
    assert quote.quote_of == "113600000000000050"
    assert quote.engagement.quotes == 4
    assert shallow.quote_of == "113600000000000009"  # the quoted post is gone, the link is not


def test_mastodon_boosts_are_skipped_edits_published_and_deletes_delete() -> None:
    source = mastodon()
    events = mastodon_events()
    names = [name for name, _ in events]
    assert names == [
        "update",
        "update",
        "update",
        "update",
        "status.update",
        "delete",
        "filters_changed",
        "update",
    ]
    first = source._event(*events[0])
    assert source._event(*events[3]) is None  # a boost
    edit = source._event(*events[4])
    assert isinstance(first, RawPost) and isinstance(edit, RawPost)
    assert edit.doc_id == first.doc_id and "de chat is dicht" in edit.text
    gone = source._event(*events[5])
    assert isinstance(gone, DeletedPost) and gone.doc_id == "mastodon:113600000000000103"
    assert source._event(*events[6]) is None


# -- webhook --------------------------------------------------------------------------------


def test_a_webhook_body_with_a_byte_order_mark_and_crlf_lines_is_accepted() -> None:
    """What a Windows tool (PowerShell ``Out-File -Encoding utf8``) sends: BOM + CRLF JSONL."""
    post = json.loads(posts("x", X_FILE)[0].model_dump_json())
    second = {**post, "post_id": "2", "text": "Ziggo ligt eruit"}
    body = "\ufeff" + json.dumps(post) + "\r\n" + json.dumps(second) + "\r\n"
    records = parse_body(body.encode("utf-8"), "application/x-ndjson", "webhook")
    assert [r.post_id for r in records if isinstance(r, RawPost)] == [post["post_id"], "2"]
    single = parse_body(("\ufeff" + json.dumps(post)).encode("utf-8"), "application/json", "w")
    assert len(single) == 1 and isinstance(single[0], RawPost)


# -- normalise: every event kind of every recording -------------------------------------------


@pytest.mark.parametrize(
    ("source", "path", "expected"),
    [
        ("x", X_FILE, {"upsert": 7, "skip": 3, "delete": 3, "dead_letter": 1}),
        ("bluesky", JETSTREAM_FILE, {"upsert": 6, "delete": 1, "skip": 3, "dead_letter": 1}),
        ("mastodon", MASTODON_FILE, {"skip": 5, "upsert": 4, "delete": 1, "dead_letter": 1}),
    ],
)
def test_normalise_reads_each_platforms_recording_into_outcomes(
    source: str, path: Path, expected: dict[str, int]
) -> None:
    kinds: dict[str, int] = {}
    for outcome in outcomes(source, path):
        kind = {RawPost: "upsert", DeletedPost: "delete", Skip: "skip", DeadLetter: "dead_letter"}[
            type(outcome)
        ]
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds == expected


def test_skips_say_why_and_dead_letters_name_file_and_line() -> None:
    x = outcomes("x", X_FILE)
    assert [o.reason for o in x if isinstance(o, Skip)] == [
        "heartbeat",
        "withheld outside the Netherlands",
        "stream error message",
    ]
    letter = next(o for o in x if isinstance(o, DeadLetter))
    assert (letter.origin, letter.position, letter.stage) == (str(X_FILE), "line 14", "decode")
    bluesky = [o.reason for o in outcomes("bluesky", JETSTREAM_FILE) if isinstance(o, Skip)]
    assert bluesky == ["identity event", "account event", "app.bsky.feed.repost commit"]
    mastodon = [o.reason for o in outcomes("mastodon", MASTODON_FILE) if isinstance(o, Skip)]
    assert mastodon == ["heartbeat", "heartbeat", "boost", "filters_changed event", "heartbeat"]


def test_listen_with_a_recording_replays_its_posts_and_deletes(settings: Settings) -> None:
    source = build_source("mastodon", settings, file=MASTODON_FILE)
    records = [r for chunk in source.chunks(threading.Event()) for r in chunk]
    assert [type(r).__name__ for r in records] == [
        "RawPost",
        "RawPost",
        "RawPost",
        "RawPost",
        "DeletedPost",
        "DeadLetter",
    ]
    assert source.checkpoint() is None
