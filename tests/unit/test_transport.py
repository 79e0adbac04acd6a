"""At-least-once over a transport: commit after output, redelivery never duplicates."""

from __future__ import annotations

from pathlib import Path

from klachtradar.contract import DeadLetter
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import index_step, listen_step, process_step
from klachtradar.runtime.transport import InMemoryTransport, OutgoingMessage, Topics
from klachtradar.settings import Settings
from sink.deadletter import DeadLetterFile
from sink.embedded import EmbeddedOutputs
from sink.store import EmbeddedStore
from tests.conftest import PostFactory

TOPICS = Topics()


def test_posts_flow_listen_process_index_into_the_store(
    tmp_path: Path, make_post: PostFactory, settings: Settings
) -> None:
    transport = InMemoryTransport()
    listen_step([make_post() for _ in range(20)], transport, TOPICS)
    assert process_step(transport, Pipeline.from_settings(settings), TOPICS) == 20
    with EmbeddedStore(tmp_path / "s.db") as store:
        outputs = EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl"))
        assert index_step(transport, outputs, TOPICS) == 20
        assert store.count() == 20
    assert transport.lag(TOPICS.raw, "klachtradar-process") == 0


def test_a_crash_before_commit_redelivers_and_ids_absorb_duplicates(
    tmp_path: Path, make_post: PostFactory, settings: Settings
) -> None:
    transport = InMemoryTransport()
    listen_step([make_post() for _ in range(10)], transport, TOPICS)
    process_step(transport, Pipeline.from_settings(settings), TOPICS)
    with EmbeddedStore(tmp_path / "s.db") as store:
        outputs = EmbeddedOutputs(store, DeadLetterFile(tmp_path / "d.jsonl"))
        # The indexer writes the batch, then dies before committing …
        messages = transport.poll(TOPICS.scored, "klachtradar-index", max_records=100)
        assert len(messages) == 10
        transport.rewind(TOPICS.scored, "klachtradar-index")
        # … and its successor gets the same batch again.
        assert index_step(transport, outputs, TOPICS) == 10
        assert index_step(transport, outputs, TOPICS) == 0
        assert store.count() == 10


def test_poison_messages_go_to_the_dead_letter_topic_while_good_ones_flow(
    make_post: PostFactory, settings: Settings
) -> None:
    transport = InMemoryTransport()
    transport.produce(TOPICS.raw, [OutgoingMessage(key=None, value=b"\xff\xfe not json")])
    transport.produce(TOPICS.raw, [OutgoingMessage(key=None, value=b'{"source": "x"}')])
    listen_step([make_post()], transport, TOPICS)
    process_step(transport, Pipeline.from_settings(settings), TOPICS)
    letters = [DeadLetter.model_validate_json(m.value) for m in transport.messages(TOPICS.dlq)]
    assert [(d.stage, d.position) for d in letters] == [("decode", "0"), ("decode", "1")]
    assert "post_id" in letters[1].error
    assert len(transport.messages(TOPICS.scored)) == 1


def test_a_stage_that_raises_dead_letters_only_the_poison_post(
    make_post: PostFactory, settings: Settings
) -> None:
    pipeline = Pipeline.from_settings(settings)
    real = pipeline.classifier

    class Exploding:
        model_ref = real.model_ref

        def predict_proba(self, texts):  # type: ignore[no-untyped-def]
            if any("BOEM" in t for t in texts):
                raise RuntimeError("model crashed")
            return real.predict_proba(texts)

    pipeline.classifier = Exploding()
    posts = [make_post("@KPN storing"), make_post("BOEM @KPN"), make_post("@NS vertraging")]
    output = pipeline.process(posts)
    assert len(output.scored) == 2
    (letter,) = output.dead_letters
    assert letter.stage == "pipeline" and "model crashed" in letter.error
    assert letter.position == posts[1].doc_id
