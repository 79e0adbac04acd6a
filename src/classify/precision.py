"""The number format the transformer backends compute in: ``fp32``, ``bf16`` or ``int8``.

The encoder is the live path (it holds on real Dutch text; the linear model is the
overload fallback), so its posts per second are the stream's. On a CPU with native
bfloat16 matrix units (AMX, or AVX-512 BF16), casting the merged encoder to bf16 runs
it about 2.7x faster than fp32 here, with the verdicts unchanged on all but a handful
of posts (``benchmarks/bench_classify.py`` measures both, ``evaluate --suite`` the
quality). On a CPU without them bf16 is emulated and slower than fp32, so ``auto``
picks bf16 only where the hardware has it. ``int8`` is the dynamic quantisation of
the attention and FFN-input layers: smaller, but slower than bf16 where bf16 is native.

The heads and pooling stay in fp32: they are a few thousand multiply-adds per post,
and the calibrated temperatures were fitted on fp32 logits.
"""

from __future__ import annotations

from typing import Literal, get_args

from klachtradar.settings import Precision

Resolved = Literal["fp32", "bf16", "int8"]
"""What a backend is actually loaded in."""

PRECISIONS: tuple[str, ...] = get_args(Precision)

__all__ = ["PRECISIONS", "Precision", "Resolved", "native_bf16", "resolve"]


def native_bf16() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (oneDNN's check).

    False when torch is not installed: nothing to compute with, so nothing to choose.
    """
    try:
        import torch
    except ImportError:
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve(precision: str) -> Resolved:
    """``auto`` → ``bf16`` where the CPU has native bf16, else ``fp32``; others as given."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    if precision == "fp32":
        return "fp32"
    if precision == "bf16":
        return "bf16"
    if precision == "int8":
        return "int8"
    raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
