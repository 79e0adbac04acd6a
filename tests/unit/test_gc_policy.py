"""The streaming GC policy applies inside its block and is undone after it."""

from __future__ import annotations

import gc

from klachtradar.runtime.gc_policy import STREAM_GEN0_THRESHOLD, streaming_gc


def test_streaming_gc_freezes_start_up_and_collects_less_often_then_restores() -> None:
    before = gc.get_threshold()
    frozen_before = gc.get_freeze_count()
    with streaming_gc():
        assert gc.get_threshold()[0] >= STREAM_GEN0_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > frozen_before
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_streaming_gc_restores_even_when_the_block_raises() -> None:
    before = gc.get_threshold()
    try:
        with streaming_gc():
            raise RuntimeError("stream failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
