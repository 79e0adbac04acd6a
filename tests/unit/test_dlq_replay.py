"""DLQ replay: one bounded pass, attempt counts, and bytes that are not UTF-8 stay dead."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from kafka import TopicPartition

from klachtradar.contract import DeadLetter
from klachtradar.runtime.dlq import (
    ReplayPass,
    ReplayReport,
    SkipReason,
    end_offsets,
    has_invalid_bytes,
    original_bytes,
    redrive_message,
    replay_pass,
    skip_reason,
)
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import (
    ATTEMPTS_HEADER,
    listen_step,
    message_dead_letter,
    process_step,
)
from klachtradar.runtime.transport import (
    InMemoryTransport,
    Message,
    OutgoingMessage,
    Topics,
    dead_letter_message,
)
from klachtradar.settings import Settings
from listener.jsonl import read_jsonl
from listener.source import dead_letter as source_dead_letter
from tests.conftest import PostFactory

TOPICS = Topics()
GROUP = "klachtradar-dlq-replay"
NOT_UTF8_LINE = b'{"source": "x", "post_id": "1", "text": "caf\xe9"}'


class ProcessingTransport(InMemoryTransport):
    """An in-memory transport with a ``process`` step that runs after every flush.

    It stands in for a ``klachtradar process`` running while the replay runs: each
    re-driven input that still fails is dead-lettered again *during* the pass.
    """

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__()
        self.pipeline = pipeline
        self._processing = False

    def flush(self) -> None:
        if self._processing:  # process_step's own flush
            return
        self._processing = True
        try:
            while process_step(self, self.pipeline, TOPICS, group="process", max_records=10_000):
                pass
        finally:
            self._processing = False


def memory_pass(transport: InMemoryTransport, group: str = GROUP) -> ReplayPass:
    """The pass a replay in ``group`` makes now (one partition: committed → end)."""
    end = len(transport.messages(TOPICS.dlq))
    return ReplayPass(start={0: end - transport.lag(TOPICS.dlq, group)}, end={0: end})


def run_replay(transport: InMemoryTransport, **options: Any) -> ReplayReport:
    return replay_pass(
        transport, TOPICS, memory_pass(transport), group=GROUP, idle_s=0.2, join_s=0.2, **options
    )


def letters(transport: InMemoryTransport) -> list[DeadLetter]:
    return [DeadLetter.model_validate_json(m.value) for m in transport.messages(TOPICS.dlq)]


def poison(transport: InMemoryTransport, count: int) -> None:
    """``count`` raw messages that fail ``decode`` every time, processed into the DLQ."""
    transport.produce(
        TOPICS.raw,
        [OutgoingMessage(key=None, value=f'{{"n": {i}}}'.encode()) for i in range(count)],
    )
    transport.flush()


@pytest.mark.parametrize("count", [20, 700])  # 700: the pass ends inside a polled batch
def test_a_replay_is_one_pass_even_while_its_letters_fail_again(
    settings: Settings, count: int
) -> None:
    transport = ProcessingTransport(Pipeline.from_settings(settings))
    poison(transport, count)
    assert len(letters(transport)) == count

    report = run_replay(transport)

    assert report.complete
    assert report.replayed == {TOPICS.raw: count}
    assert report.skipped == {}
    dlq = letters(transport)
    assert len(dlq) == 2 * count, "each letter failed again exactly once, none re-read"
    assert [d.attempts for d in dlq] == [1] * count + [2] * count
    assert transport.lag(TOPICS.dlq, GROUP) == count, "letters of the run are left unread"


def test_a_second_replay_skips_letters_that_already_failed_after_a_replay(
    settings: Settings,
) -> None:
    transport = ProcessingTransport(Pipeline.from_settings(settings))
    poison(transport, 30)
    run_replay(transport)

    again = run_replay(transport)

    assert again.replayed == {}
    assert again.skipped == {SkipReason.MAX_ATTEMPTS: 30}
    assert len(letters(transport)) == 60, "nothing was re-driven"
    assert transport.lag(TOPICS.dlq, GROUP) == 0, "skipped letters are committed"


def test_raising_max_attempts_replays_them_and_they_come_back_with_one_more(
    settings: Settings,
) -> None:
    transport = ProcessingTransport(Pipeline.from_settings(settings))
    poison(transport, 5)
    run_replay(transport)

    report = run_replay(transport, max_attempts=2)

    assert report.replayed == {TOPICS.raw: 5}
    assert [d.attempts for d in letters(transport)] == [1] * 5 + [2] * 5 + [3] * 5


def test_a_dry_run_counts_but_sends_and_commits_nothing(settings: Settings) -> None:
    transport = ProcessingTransport(Pipeline.from_settings(settings))
    poison(transport, 8)

    report = run_replay(transport, dry_run=True)

    assert report.replayed == {TOPICS.raw: 8} and report.complete
    assert "would replay 8 → klachtradar.posts.raw" in report.lines()
    assert len(letters(transport)) == 8
    assert transport.lag(TOPICS.dlq, GROUP) == 8


def test_an_empty_or_fully_replayed_dlq_is_done_without_reading() -> None:
    assert ReplayPass(start={}, end={}).done
    assert ReplayPass(start={0: 5, 1: 0}, end={0: 5, 1: 0}).done
    assert not ReplayPass(start={0: 4}, end={0: 5}).done


def test_a_pass_covers_each_partition_up_to_its_own_end() -> None:
    bounds = ReplayPass(start={0: 0, 1: 3}, end={0: 2, 1: 4})

    def at(position: str) -> Message:
        return Message(topic="dlq", key=None, value=b"", position=position)

    assert bounds.includes(at("0/1")) and not bounds.includes(at("0/2"))
    assert bounds.includes(at("1/3")) and not bounds.includes(at("2/0")), "new partition"
    bounds.advance(at("0/1"))
    assert not bounds.done
    bounds.advance(at("1/3"))
    assert bounds.done


def test_the_summary_counts_skips_by_reason(settings: Settings, make_post: PostFactory) -> None:
    transport = ProcessingTransport(Pipeline.from_settings(settings))
    poison(transport, 2)
    stage_letter = DeadLetter(
        origin="x", position="p", stage="index", error="boom", raw=make_post().model_dump_json()
    )
    transport.produce(TOPICS.dlq, [dead_letter_message(stage_letter)])
    transport.produce(TOPICS.dlq, [OutgoingMessage(key=None, value=b"not a letter")])

    report = run_replay(transport, stages=["decode"])

    assert report.replayed == {TOPICS.raw: 2}
    assert report.skipped == {SkipReason.STAGE: 1, SkipReason.NOT_A_LETTER: 1}
    assert report.lines() == [
        "replayed 2 → klachtradar.posts.raw",
        "skipped 2",
        "  1 not a dead letter",
        "  1 stage filter",
    ]


# -- bytes that are not UTF-8 ---------------------------------------------------------------


def test_a_file_line_that_is_not_utf8_keeps_its_bytes_and_is_never_replayed(
    tmp_path: Path, settings: Settings, make_post: PostFactory
) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(make_post().model_dump_json().encode() + b"\n" + NOT_UTF8_LINE + b"\r\n")
    transport = ProcessingTransport(Pipeline.from_settings(settings))
    listen_step(list(read_jsonl(path)), transport, TOPICS)
    (letter,) = letters(transport)
    assert letter.raw_base64 is not None
    assert base64.b64decode(letter.raw_base64) == NOT_UTF8_LINE, "exact bytes, no line end"

    report = run_replay(transport)

    assert report.skipped == {SkipReason.INVALID_BYTES: 1}
    assert report.replayed == {}
    assert len(transport.messages(TOPICS.raw)) == 1, "only the good post ever reached raw"


def test_an_old_file_letter_with_only_a_lossy_copy_is_not_repaired_into_a_post(
    make_post: PostFactory,
) -> None:
    """Before raw_base64 was kept for file lines, ``raw`` held U+FFFD and valid JSON."""
    lossy = make_post("caf\ufffd").model_dump_json()
    letter = DeadLetter(
        origin="in.jsonl",
        position="line 2",
        stage="validate",
        error="not UTF-8 at byte 7",
        raw=lossy,
    )
    assert has_invalid_bytes(letter)
    assert skip_reason(letter, stages=(), max_attempts=9) is SkipReason.INVALID_BYTES
    fine = letter.model_copy(update={"error": "text: Field required"})
    assert not has_invalid_bytes(fine), "U+FFFD an author wrote is just text"


def test_a_raw_message_that_is_not_utf8_is_dead_lettered_with_its_exact_bytes(
    settings: Settings,
) -> None:
    transport = InMemoryTransport()
    transport.produce(TOPICS.raw, [OutgoingMessage(key=None, value=NOT_UTF8_LINE)])
    process_step(transport, Pipeline.from_settings(settings), TOPICS)

    (letter,) = letters(transport)
    assert letter.stage == "decode"
    assert letter.error == "not UTF-8 at byte 44", "said once, at the offending byte"
    assert original_bytes(letter) == NOT_UTF8_LINE
    assert transport.messages(TOPICS.scored) == []


def test_a_network_source_letter_keeps_bytes_that_are_not_utf8() -> None:
    letter = source_dead_letter("wss://x", "event 3", "decode", "bad frame", b"\x80hoi")
    assert letter.raw == "\ufffdhoi"
    assert original_bytes(letter) == b"\x80hoi"
    assert has_invalid_bytes(letter)


# -- attempts travel in a header --------------------------------------------------------------


def test_a_redriven_letter_carries_its_attempts_and_failing_again_adds_one() -> None:
    letter = DeadLetter(origin="t", position="0/1", stage="decode", error="e", raw="{}", attempts=2)
    outgoing = redrive_message(letter)
    assert outgoing.headers[ATTEMPTS_HEADER] == "2"

    consumed = Message(topic="t", key=None, value=b"{}", position="0/9", headers=outgoing.headers)
    assert message_dead_letter(consumed, "decode", "again").attempts == 3


@pytest.mark.parametrize("header", [None, "", "0", "-1", "many"])
def test_fresh_or_foreign_input_counts_as_a_first_failure(header: str | None) -> None:
    headers = {} if header is None else {ATTEMPTS_HEADER: header}
    consumed = Message(topic="t", key=None, value=b"{}", position="0/0", headers=headers)
    assert message_dead_letter(consumed, "decode", "bad").attempts == 1


def test_old_letters_without_attempts_read_as_a_first_failure() -> None:
    old = {"origin": "t", "position": "0/1", "stage": "decode", "error": "e", "raw": "{}"}
    assert DeadLetter.model_validate_json(json.dumps(old)).attempts == 1


# -- end offsets on brokers that report them low ---------------------------------------------


def tp(partition: int) -> TopicPartition:
    return TopicPartition("dlq", partition)


class FakeConsumer:
    """Just enough of a KafkaConsumer: listed end offsets and fetched high watermarks."""

    def __init__(self, listed: dict[int, int], highwater: dict[int, int | None]) -> None:
        self.listed = listed
        self.high = highwater
        self.seeks: dict[int, int] = {}

    def end_offsets(self, tps: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {t: self.listed[t.partition] for t in tps}

    def seek(self, t: TopicPartition, offset: int) -> None:
        self.seeks[t.partition] = offset

    def poll(self, timeout_ms: int) -> dict[TopicPartition, list[object]]:
        return {}

    def highwater(self, t: TopicPartition) -> int | None:
        return self.high[t.partition]


def test_end_offsets_trust_the_fetched_high_watermark_over_a_low_listed_end() -> None:
    """tansu lists the last batch's base offset + 1; the fetch's high watermark is right."""
    consumer = FakeConsumer(listed={0: 1, 1: 11, 2: 0}, highwater={0: 10, 1: 16, 2: 0})
    tps = [tp(0), tp(1), tp(2)]
    ends = end_offsets(consumer, tps, dict.fromkeys(tps, 0), timeout_s=1)  # type: ignore[arg-type]
    assert ends == {tp(0): 10, tp(1): 16, tp(2): 0}
    assert consumer.seeks == {0: 0, 1: 10, 2: 0}, "one short fetch from just before the end"


def test_a_partition_without_a_fetch_answer_keeps_the_listed_end() -> None:
    consumer = FakeConsumer(listed={0: 4}, highwater={0: None})
    ends = end_offsets(consumer, [tp(0)], {tp(0): 0}, timeout_s=0.3)  # type: ignore[arg-type]
    assert ends == {tp(0): 4}, "ends early (letters left for the next replay), never late"
