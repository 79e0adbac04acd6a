"""The overload cascade: a stream that falls behind goes to the fast model until it catches up."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from classify.base import Prediction, TextClassifier
from classify.cascade import JudgeCost, LagGate, OverloadPolicy, batch_lag_seconds
from classify.lexicon import LexiconClassifier
from klachtradar.contract import Author, ModelRef, RawPost, utc_now
from klachtradar.errors import ConfigError
from klachtradar.ports import PipelineOutput
from klachtradar.runtime.judging import Judgement
from klachtradar.runtime.pipeline import Pipeline
from klachtradar.runtime.runner import run_embedded
from klachtradar.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


class SlowClassifier:
    """The lexicon's verdicts, ``seconds_per_post`` late: an encoder on a busy CPU."""

    def __init__(self, seconds_per_post: float) -> None:
        self.seconds_per_post = seconds_per_post
        self.judged = 0
        self._inner = LexiconClassifier()

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name="traag", version="v1")

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        time.sleep(self.seconds_per_post * len(texts))
        self.judged += len(texts)
        return self._inner.predict_proba(texts)


def _post(n: int, received_at: datetime | None) -> RawPost:
    return RawPost(
        source="x",
        post_id=str(n),
        text=f"@KPN al {n} dagen geen internet, belachelijk",
        created_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        received_at=received_at,
        author=Author(id=f"a{n}", handle=f"klant{n}"),
    )


def _pipeline(
    primary: TextClassifier, *, overload: float, resume: float, split: bool = True
) -> Pipeline:
    settings = load_settings(
        pipeline={"classifier": "e5"},
        classify={
            "models_dir": str(ROOT / "models"),
            "fallback_model": "linear",
            "overload_lag_seconds": overload,
            "resume_lag_seconds": resume,
            "overload_split": split,
        },
        history={"backend": "memory"},
    )
    return Pipeline.from_settings(settings, classifier=primary)


def test_gate_switches_with_hysteresis() -> None:
    gate = LagGate(OverloadPolicy(max_lag_seconds=2.0, resume_lag_seconds=0.5))
    lags = [0.1, 1.9, 2.5, 1.0, 0.6, 0.4, 1.5, 2.1]
    assert [gate.observe(lag) for lag in lags] == [
        False,  # keeping up
        False,  # under the limit
        True,  # behind: the fast model takes over
        True,  # catching up, not yet under the resume mark
        True,
        False,  # caught up: the primary model again
        False,  # under the limit again: no flapping back
        True,
    ]
    assert gate.switches == 3


def test_gate_enters_overload_on_the_lag_the_alert_would_leave_with() -> None:
    """0.3 s old is fine by age, but not with 0.4 s of encoder work still to do; once
    overloaded, the primary comes back when the age alone is under the resume mark."""
    gate = LagGate(OverloadPolicy(max_lag_seconds=0.5, resume_lag_seconds=0.1))
    assert gate.observe(0.3) is False
    assert gate.observe(0.3, expected_seconds=0.1) is False
    assert gate.observe(0.3, expected_seconds=0.4) is True
    assert gate.observe(0.05, expected_seconds=0.8) is False  # caught up: re-timed
    assert gate.switches == 2


def test_a_flapping_gate_logs_one_line_per_interval_with_the_state_it_ends_in(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nine switches in ten seconds are one line at the first and one summing up the
    rest once the interval has passed, saying the state the stream is in by then."""
    gate = LagGate(
        OverloadPolicy(max_lag_seconds=1.0, resume_lag_seconds=0.5), log_every_seconds=30.0
    )
    start = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
    lags = [1.5, 0.1] * 4 + [1.5]  # nine switches, one a second; ends overloaded
    with caplog.at_level("WARNING", logger="classify.cascade"):
        for k, lag in enumerate(lags):
            gate.observe(lag, now=start + timedelta(seconds=k))
        first = [r.getMessage() for r in caplog.records]
        gate.observe(0.9, now=start + timedelta(seconds=40))  # still behind: no switch
    lines = [r.getMessage() for r in caplog.records]
    assert gate.switches == 9
    assert first == ["overload: fast model takes over (batch lag 1.5 s)"]
    assert len(lines) == 2
    assert lines[1].startswith("overload: fast model takes over")
    assert "8 switches since the last line" in lines[1]
    assert caplog.records[1].fields["switches"] == 9  # type: ignore[attr-defined]
    with caplog.at_level("WARNING", logger="classify.cascade"):
        gate.observe(0.2, now=start + timedelta(seconds=80))  # back, after the interval
    assert caplog.records[-1].getMessage() == (
        "overload: back to the primary model (batch lag 0.2 s)"
    )


def test_judge_cost_fits_a_fixed_and_a_per_post_part() -> None:
    cost = JudgeCost()
    assert cost.estimate(10) == 0.0  # nothing measured: the gate goes by age
    for n in (4, 10, 20, 40, 8, 30):
        cost.observe(n, 0.05 + 0.01 * n)
    assert cost.estimate(50) == pytest.approx(0.55, rel=1e-6)
    assert cost.estimate(1) == pytest.approx(0.06, rel=1e-6)


def test_judge_cost_with_one_batch_size_is_the_mean_per_post_and_follows_the_machine() -> None:
    cost = JudgeCost(decay=0.5)
    for _ in range(5):
        cost.observe(20, 0.2)
    assert cost.estimate(40) == pytest.approx(0.4)
    for _ in range(12):  # a neighbour takes a core: every batch twice as slow
        cost.observe(20, 0.4)
    assert cost.estimate(40) == pytest.approx(0.8, rel=1e-3)


def test_a_big_batch_goes_fast_before_its_age_says_so() -> None:
    """The deadline gate with a measured primary: 20 posts at 0.02 s each teach it the
    cost; 40 posts 0.2 s old would leave at ~1 s, past the 0.5 s limit, so they go to
    the fast model although their age alone is under it (whole batches: no split)."""
    slow = SlowClassifier(seconds_per_post=0.02)
    pipeline = _pipeline(slow, overload=0.5, resume=0.1, split=False)
    pipeline.process([_post(n, utc_now()) for n in range(20)], arrived=[utc_now()] * 20)
    assert pipeline.cascade is not None
    assert pipeline.cascade.cost.estimate(40) == pytest.approx(0.8, rel=0.5)
    waited = utc_now() - timedelta(seconds=0.2)
    out = pipeline.process([_post(100 + n, waited) for n in range(40)], arrived=[waited] * 40)
    assert {p.classification.fallback for p in out.scored if p.classification} == {True}
    assert slow.judged == 20


def test_a_workers_timing_teaches_the_cost_model() -> None:
    """A worker's :class:`Judgement` carries its classification seconds; a primary
    verdict feeds the cascade's cost model, a fast one does not."""
    pipeline = _pipeline(LexiconClassifier(), overload=0.3, resume=0.1)
    assert pipeline.cascade is not None
    posts = [_post(n, utc_now()) for n in range(10)]
    lexicon = LexiconClassifier()
    predictions = lexicon.predict_proba([p.text for p in posts])
    fast = Judgement(["nl"] * 10, list(predictions), lexicon.model_ref, fallback=True, seconds=9)
    pipeline.process(posts, judged=fast)
    assert pipeline.cascade.cost.estimate(10) == 0.0
    primary = Judgement(["nl"] * 10, list(predictions), lexicon.model_ref, seconds=0.5)
    pipeline.process(posts, judged=primary)
    assert pipeline.cascade.cost.estimate(20) == pytest.approx(1.0)


def test_policy_refuses_a_resume_mark_above_the_limit() -> None:
    with pytest.raises(ValueError, match="resume_lag_seconds"):
        OverloadPolicy(max_lag_seconds=1.0, resume_lag_seconds=2.0)
    with pytest.raises(ConfigError, match="resume_lag_seconds"):
        load_settings(classify={"overload_lag_seconds": 1.0, "resume_lag_seconds": 2.0})


def test_lag_is_the_oldest_received_post_and_replays_have_none() -> None:
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert batch_lag_seconds([now - timedelta(seconds=3), now, None], now) == 3.0
    assert batch_lag_seconds([None, None], now) == 0.0


def test_a_stream_behind_goes_to_the_fast_model_and_back() -> None:
    """Whole batches (``overload_split = false``). An artificially slow primary model
    (1 s per batch) and a burst of 120 posts: the first batch is judged by it; the
    batches that waited meanwhile go to the fast model, marked as fallback; fresh posts
    after the burst go to the primary again."""
    slow = SlowClassifier(seconds_per_post=0.05)
    pipeline = _pipeline(slow, overload=0.3, resume=0.1, split=False)
    arrived = utc_now()
    burst = [_post(n, arrived) for n in range(120)]

    def batches() -> Iterator[list[RawPost]]:
        for start in range(0, len(burst), 20):
            yield burst[start : start + 20]
        yield [_post(1000 + n, utc_now()) for n in range(20)]  # arrives after the burst

    outputs: list[PipelineOutput] = []

    class Collect:
        def write(self, output: PipelineOutput) -> None:
            outputs.append(output)

    run_embedded(batches(), pipeline, Collect(), arrival=lambda post: post.received_at)

    verdicts = [
        (p.post.post_id, p.classification.model.name, p.classification.fallback)
        for output in outputs
        for p in output.scored
        if p.classification is not None
    ]
    assert len(verdicts) == 140 and len({v[0] for v in verdicts}) == 140
    by_batch = [
        {(name, fallback) for _, name, fallback in verdicts[i : i + 20]} for i in range(0, 140, 20)
    ]
    assert by_batch[0] == {("traag", False)}
    assert all(batch == {("linear", True)} for batch in by_batch[1:6]), by_batch
    assert by_batch[6] == {("traag", False)}
    assert slow.judged == 40
    assert pipeline.cascade is not None and pipeline.cascade.gate.switches == 2


def test_a_worker_verdict_by_the_fast_model_is_marked_fallback() -> None:
    """With judge workers the caller decides (``Pipeline.overloaded``) and the worker's
    :class:`Judgement` says it used the fast model; the verdict carries that."""
    pipeline = _pipeline(LexiconClassifier(), overload=0.3, resume=0.1)
    behind = [_post(1, utc_now() - timedelta(seconds=5))]
    assert pipeline.overloaded([p.received_at for p in behind]) is True
    fast = pipeline.cascade.fast if pipeline.cascade else None
    assert fast is not None
    judged = Judgement(["nl"], fast.predict_proba([behind[0].text]), fast.model_ref, fallback=True)
    [scored] = pipeline.process(behind, judged=judged).scored
    assert scored.classification is not None
    assert scored.classification.fallback is True
    assert scored.classification.model.name == "linear"


def test_no_cascade_when_the_served_model_is_the_fast_one() -> None:
    settings = load_settings(
        pipeline={"classifier": "linear"},
        classify={"models_dir": str(ROOT / "models")},
        history={"backend": "memory"},
    )
    pipeline = Pipeline.from_settings(settings)
    assert pipeline.cascade is None
    assert pipeline.overloaded([utc_now() - timedelta(hours=1)]) is False


def test_a_file_replay_is_never_an_overload_however_old_its_stamps() -> None:
    """A recording's ``received_at`` says when a listener got the post months ago; a
    replay passes no arrival times, so the primary model judges every batch."""
    pipeline = _pipeline(LexiconClassifier(), overload=0.3, resume=0.1)
    old = [_post(n, utc_now() - timedelta(days=60)) for n in range(3)]
    outputs: list[PipelineOutput] = []

    class Collect:
        def write(self, output: PipelineOutput) -> None:
            outputs.append(output)

    run_embedded([old], pipeline, Collect())
    assert {p.classification.fallback for o in outputs for p in o.scored if p.classification} == {
        False
    }


def test_on_kafka_the_lag_is_the_raw_message_timestamp() -> None:
    """The broker's timestamp of the raw message is when the post joined the queue;
    ``received_at`` counts only where a message has none."""
    from klachtradar.runtime.runner import _decode, message_arrivals
    from klachtradar.runtime.transport import Message

    stamped = _post(1, utc_now() - timedelta(days=60))
    bare = _post(2, utc_now() - timedelta(seconds=7))
    messages = [
        Message("raw", None, stamped.model_dump_json().encode(), "0/1", timestamp=1_800_000_000.0),
        Message("raw", None, bare.model_dump_json().encode(), "0/2"),
    ]
    first, second = message_arrivals(_decode(messages))
    assert first == datetime.fromtimestamp(1_800_000_000.0, UTC)
    assert second == bare.received_at


COMPLAINTS = [
    "@KPN al 3 dagen geen internet, belachelijk slecht!!",
    "@KPN storing alweer, niemand helpt me, waardeloos",
    "@KPN mijn factuur is weer fout, ik ben het zat",
    "@KPN wifi valt steeds weg en jullie doen niks",
]
OTHERS = [
    "mooi weer vandaag in utrecht",
    "@KPN tot hoe laat is de winkel in Zwolle open?",
    "lekker koffie gedronken met mn zus",
    "@KPN dank jullie, alles werkt weer top",
]


def _texts(n: int) -> list[str]:
    pool = [t for pair in zip(COMPLAINTS, OTHERS, strict=True) for t in pair]
    return [pool[i % len(pool)] for i in range(n)]


def test_judge_cost_says_how_many_posts_fit_in_a_time() -> None:
    cost = JudgeCost()
    assert cost.posts_within(1.0) == 0  # nothing measured: nothing promised
    for n in (4, 10, 20, 40, 8, 30):
        cost.observe(n, 0.05 + 0.01 * n)
    assert cost.posts_within(0.55) == pytest.approx(50, abs=1)
    assert cost.posts_within(0.04) == 0
    assert cost.posts_within(-1.0) == 0


def test_routing_gives_the_primary_the_fast_models_likeliest_complaints() -> None:
    from classify.registry import fast_classifier
    from classify.stage import predict_routed

    fast = fast_classifier(load_settings(classify={"models_dir": str(ROOT / "models")}))
    primary = SlowClassifier(seconds_per_post=0.0)
    texts = _texts(8)
    langs: list[str | None] = ["nl"] * 7 + ["tr"]  # the last: not judged by anyone
    everyone = predict_routed(texts, langs, primary, fast, None)
    assert everyone.fast == () and everyone.primary_posts == 7 and primary.judged == 7
    nobody = predict_routed(texts, langs, primary, fast, 0)
    assert nobody.fast == tuple(range(7)) and nobody.primary_posts == 0
    split = predict_routed(texts, langs, primary, fast, 3)
    chosen = [i for i in range(7) if i not in split.fast]
    assert len(chosen) == 3 and split.primary_posts == 3
    assert all(texts[i] in COMPLAINTS for i in chosen), [texts[i] for i in chosen]
    assert split.predictions[7] is None
    assert primary.judged == 10


def test_an_overloaded_batch_is_split_at_what_the_primary_fits_before_the_deadline() -> None:
    """20 posts at 0.02 s each teach the cost; 40 posts 0.2 s old leave 0.3 s of the
    0.5 s deadline, so the primary takes the ~12 that fit (0.8 of the slack, at 0.02 s
    a post), its likeliest complaints first, and the fast model the other 28. Each
    verdict names its model; only the fast ones are marked fallback."""
    slow = SlowClassifier(seconds_per_post=0.02)
    pipeline = _pipeline(slow, overload=0.5, resume=0.1)
    pipeline.process([_post(n, utc_now()) for n in range(20)], arrived=[utc_now()] * 20)
    waited = utc_now() - timedelta(seconds=0.2)
    posts = [
        _post(100 + n, waited).model_copy(update={"text": text})
        for n, text in enumerate(_texts(40))
    ]
    out = pipeline.process(posts, arrived=[waited] * 40)
    verdicts = {
        p.post.post_id: (p.classification.model.name, p.classification.fallback)
        for p in out.scored
        if p.classification
    }
    assert len(verdicts) == 40
    by_primary = [pid for pid, v in verdicts.items() if v == ("traag", False)]
    by_fast = [pid for pid, v in verdicts.items() if v == ("linear", True)]
    assert len(by_primary) + len(by_fast) == 40
    assert 6 <= len(by_primary) <= 14, len(by_primary)  # fits, whatever the timer's noise
    assert slow.judged == 20 + len(by_primary)
    text = {p.post_id: p.text for p in posts}
    assert all(text[pid] in COMPLAINTS for pid in by_primary)


def test_a_workers_split_judgement_names_both_models() -> None:
    """A worker's split batch: post 1 by the fast model, post 0 by the primary; the cost
    model learns from the primary's share only."""
    from classify.registry import fast_classifier

    pipeline = _pipeline(LexiconClassifier(), overload=0.3, resume=0.1)
    assert pipeline.cascade is not None
    fast = fast_classifier(load_settings(classify={"models_dir": str(ROOT / "models")}))
    posts = [_post(0, utc_now()), _post(1, utc_now())]
    predictions = LexiconClassifier().predict_proba([p.text for p in posts])
    judged = Judgement(
        ["nl", "nl"],
        list(predictions),
        ModelRef(name="traag", version="v1"),
        fast=(1,),
        fast_model=fast.model_ref,
        primary_posts=1,
        seconds=0.3,
    )
    out = pipeline.process(posts, judged=judged)
    names = {
        p.post.post_id: (p.classification.model.name, p.classification.fallback)
        for p in out.scored
        if p.classification
    }
    assert names == {"0": ("traag", False), "1": ("linear", True)}
    assert pipeline.cascade.cost.estimate(2) == pytest.approx(0.6)
