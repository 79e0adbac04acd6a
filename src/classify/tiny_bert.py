"""A tiny random BERT with a vocabulary from a corpus, written to a local directory.

Nothing may be downloaded here, yet the transformer backend must be exercised end to
end: tests and ``benchmarks/bench_classify.py`` build one of these (a WordPiece
vocabulary of the corpus' most frequent words, a random 2-layer encoder) and run the
real fine-tune → save → load → predict code on it. Its accuracy means nothing; its
shape and code path are those of RobBERT or BERTje.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def corpus_texts(path: Path) -> list[str]:
    """The ``text`` of every JSON line in ``path``."""
    return [
        str(json.loads(line)["text"])
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def write_tiny_bert(
    directory: Path,
    texts: Iterable[str],
    *,
    vocab_size: int = 2000,
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 2,
    max_positions: int = 128,
    seed: int = 0,
) -> Path:
    """Write tokenizer files and a random ``BertForSequenceClassification`` to ``directory``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizer

    words = Counter(w for text in texts for w in re.findall(r"\w+|[^\w\s]", text.lower()))
    vocab = SPECIAL_TOKENS + [w for w, _ in words.most_common(vocab_size - len(SPECIAL_TOKENS))]
    directory.mkdir(parents=True, exist_ok=True)
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(vocab) + "\n", encoding="utf-8")
    try:
        tokenizer = BertTokenizer(vocab=str(vocab_file))
    except TypeError:  # transformers 4.x names the argument vocab_file
        tokenizer = BertTokenizer(vocab_file=str(vocab_file))
    tokenizer.save_pretrained(directory)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden_size * 2,
        max_position_embeddings=max_positions,
    )
    BertForSequenceClassification(config).save_pretrained(directory)
    return directory
