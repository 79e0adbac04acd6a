"""The ``transformer`` backend: a Hugging Face sequence-classification model, multi-task.

One encoder, one forward pass, one head of eleven outputs laid out as
``[sentiment × 3 | intent × 4 | cues × 4]``: softmax over each of the first two
blocks, a sigmoid per cue. Fine-tuning (:meth:`TransformerClassifier.fine_tune`)
minimises cross-entropy + cross-entropy + binary cross-entropy, keeps the epoch with
the best dev macro-F1 and stops after ``patience`` epochs without improvement, then
fits one temperature per task on dev (:mod:`classify.calibration`).

Serving is built for a CPU: texts are tokenised once, sorted by length and cut into
batches of similar length (little padding), run under ``torch.inference_mode()``,
and put back in the caller's order. ``precision="int8"`` applies dynamic int8 quantisation
to the linear layers (about 2× faster on CPU, a little accuracy lost).

Nothing is downloaded: models load with ``local_files_only=True`` from a directory.
To fine-tune RobBERT or BERTje, download it once on a machine with network access
(``huggingface-cli download pdelobelle/robbert-v2-dutch-base --local-dir robbert``)
and pass ``--base-model robbert`` to ``klachtradar train --backend transformer``.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classify.base import Prediction
from classify.calibration import (
    fit_binary_temperature,
    fit_temperature,
    sigmoid_with_temperature,
    softmax_with_temperature,
)
from classify.corpus import CUES, INTENTS, SENTIMENTS, LabelledPost
from classify.heads import LabelArrays, to_predictions
from classify.text_normalise import strip_noise
from klachtradar.contract import ModelRef

HF_DIR = "hf"
SETTINGS_FILE = "transformer.json"
_S, _I = len(SENTIMENTS), len(INTENTS)
SLICES = {
    "sentiment": slice(0, _S),
    "intent": slice(_S, _S + _I),
    "cues": slice(_S + _I, _S + _I + len(CUES)),
}
NUM_LABELS = _S + _I + len(CUES)

Progress = Callable[[str, int, int, str], None]


@dataclass
class TrainingArguments:
    """Fine-tuning settings; recorded in the model card."""

    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    patience: int = 2
    max_length: int = 128
    seed: int = 13

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def label_names() -> list[str]:
    """Output names in head order, stored as the model's ``id2label``."""
    return (
        [f"sentiment={s.value}" for s in SENTIMENTS]
        + [f"intent={i.value}" for i in INTENTS]
        + [f"cue={c.value}" for c in CUES]
    )


class TransformerClassifier:
    """A fine-tuned multi-task sequence classifier; see the module docstring."""

    backend = "transformer"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str = "transformer",
        version: str = "0",
        max_length: int = 128,
        batch_size: int = 32,
        temperatures: dict[str, float] | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.version = version
        self.max_length = max_length
        self.batch_size = batch_size
        self.temperatures = temperatures or {"sentiment": 1.0, "intent": 1.0, "cues": 1.0}

    @property
    def model_ref(self) -> ModelRef:
        return ModelRef(name=self.name, version=self.version)

    # -- serving -------------------------------------------------------------------------

    def predict_proba(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        logits = self.logits(texts)
        t = self.temperatures
        proba = {
            "sentiment": softmax_with_temperature(logits[:, SLICES["sentiment"]], t["sentiment"]),
            "intent": softmax_with_temperature(logits[:, SLICES["intent"]], t["intent"]),
            "cues": sigmoid_with_temperature(logits[:, SLICES["cues"]], t["cues"]),
        }
        return to_predictions(proba)

    def logits(self, texts: Sequence[str]) -> Any:
        """Raw head outputs, ``(len(texts), 11)``, batched by similar length."""
        import torch

        encoded = self.tokenizer(
            [strip_noise(t) or "." for t in texts],
            truncation=True,
            max_length=self.max_length,
        )
        ids = encoded["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = np.zeros((len(ids), NUM_LABELS), dtype=float)
        self.model.eval()
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                features = [{k: encoded[k][i] for k in encoded} for i in chunk]
                batch = self.tokenizer.pad(features, return_tensors="pt")
                out[chunk] = self.model(**batch).logits.float().numpy()
        return out

    def quantize_int8(self) -> TransformerClassifier:
        """Dynamic int8 quantisation of the linear layers (CPU inference only)."""
        import warnings

        import torch

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model = torch.ao.quantization.quantize_dynamic(  # type: ignore[no-untyped-call]
                self.model, {torch.nn.Linear}, dtype=torch.qint8
            )
        return self

    # -- training ------------------------------------------------------------------------

    @classmethod
    def fine_tune(
        cls,
        base_model: Path,
        train: Sequence[LabelledPost],
        dev: Sequence[LabelledPost],
        args: TrainingArguments,
        *,
        name: str = "transformer",
        version: str = "0",
        progress: Progress | None = None,
    ) -> TransformerClassifier:
        """Fine-tune ``base_model`` (a local directory) on ``train``; early-stop on ``dev``."""
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        random.seed(args.seed)
        torch.manual_seed(args.seed)
        tokenizer = AutoTokenizer.from_pretrained(base_model, local_files_only=True)
        names = label_names()
        config = AutoConfig.from_pretrained(
            base_model,
            local_files_only=True,
            num_labels=NUM_LABELS,
            id2label=dict(enumerate(names)),
            label2id={n: i for i, n in enumerate(names)},
        )
        model = AutoModelForSequenceClassification.from_pretrained(
            base_model, config=config, ignore_mismatched_sizes=True, local_files_only=True
        )
        clf = cls(model, tokenizer, name=name, version=version, max_length=args.max_length)
        clf._train_loop(train, dev, args, progress)
        if dev:
            clf._calibrate(dev)
        return clf

    def _train_loop(
        self,
        train: Sequence[LabelledPost],
        dev: Sequence[LabelledPost],
        args: TrainingArguments,
        progress: Progress | None,
    ) -> None:
        import torch

        labels = LabelArrays.from_records(train)
        optimiser = torch.optim.AdamW(
            self.model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay
        )
        steps_per_epoch = (len(train) + args.batch_size - 1) // args.batch_size
        total = steps_per_epoch * args.epochs
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda step: max(0.0, 1.0 - step / max(total, 1))
        )
        best_score, best_state, stale, step = -1.0, None, 0, 0
        for epoch in range(args.epochs):
            self.model.train()
            order = list(range(len(train)))
            random.shuffle(order)
            for start in range(0, len(order), args.batch_size):
                chunk = order[start : start + args.batch_size]
                loss = self._loss([train[i].text for i in chunk], labels, chunk)
                optimiser.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
                optimiser.step()
                schedule.step()
                step += 1
                if progress:
                    progress(
                        "fine-tuning", step, total, f"epoch {epoch + 1} loss {loss.item():.3f}"
                    )
            score = self._dev_score(dev) if dev else float(epoch)
            if score > best_score:
                best_score, best_state, stale = score, copy.deepcopy(self.model.state_dict()), 0
            else:
                stale += 1
                if stale > args.patience:
                    break
        if best_state is not None:
            self.model.load_state_dict(best_state)
        self.model.eval()

    def _loss(self, texts: list[str], labels: LabelArrays, chunk: list[int]) -> Any:
        import torch
        import torch.nn.functional as F  # noqa: N812

        batch = self.tokenizer(
            [strip_noise(t) or "." for t in texts],
            truncation=True,
            max_length=self.max_length,
            padding=True,
            return_tensors="pt",
        )
        logits = self.model(**batch).logits
        sentiment = torch.as_tensor(labels.sentiment[chunk])
        intent = torch.as_tensor(labels.intent[chunk])
        cues = torch.as_tensor(labels.cues[chunk], dtype=torch.float32)
        return (
            F.cross_entropy(logits[:, SLICES["sentiment"]], sentiment)
            + F.cross_entropy(logits[:, SLICES["intent"]], intent)
            + F.binary_cross_entropy_with_logits(logits[:, SLICES["cues"]], cues)
        )

    def _dev_score(self, dev: Sequence[LabelledPost]) -> float:
        from classify.evaluation import task_report

        logits = self.logits([r.text for r in dev])
        y = LabelArrays.from_records(dev)
        sentiment = task_report(y.sentiment, logits[:, SLICES["sentiment"]], [""] * _S)
        intent = task_report(y.intent, logits[:, SLICES["intent"]], [""] * _I)
        return (sentiment.macro_f1 + intent.macro_f1) / 2

    def _calibrate(self, dev: Sequence[LabelledPost]) -> None:
        logits = self.logits([r.text for r in dev])
        y = LabelArrays.from_records(dev)
        self.temperatures = {
            "sentiment": fit_temperature(logits[:, SLICES["sentiment"]], y.sentiment),
            "intent": fit_temperature(logits[:, SLICES["intent"]], y.intent),
            "cues": fit_binary_temperature(logits[:, SLICES["cues"]], y.cues),
        }

    # -- persistence ---------------------------------------------------------------------

    def save(self, directory: Path) -> Path:
        """``hf/`` (safetensors weights, config, tokenizer) and ``transformer.json``."""
        target = directory / HF_DIR
        self.model.save_pretrained(target)
        self.tokenizer.save_pretrained(target)
        settings = {"max_length": self.max_length, "temperatures": self.temperatures}
        (directory / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n")
        return target

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        name: str,
        version: str,
        precision: str = "fp32",
        batch_size: int = 32,
    ) -> TransformerClassifier:
        """Load a saved model from ``directory`` (never from the network).

        ``precision``: ``int8`` (dynamic quantisation of the linear layers), ``bf16``, or
        ``auto`` (bf16 where the CPU has it natively; :mod:`classify.precision`).
        """
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as hf_logging

        from classify.precision import resolve

        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        settings = json.loads((directory / SETTINGS_FILE).read_text(encoding="utf-8"))
        model = AutoModelForSequenceClassification.from_pretrained(
            directory / HF_DIR, local_files_only=True
        )
        tokenizer = AutoTokenizer.from_pretrained(directory / HF_DIR, local_files_only=True)
        clf = cls(
            model,
            tokenizer,
            name=name,
            version=version,
            max_length=int(settings["max_length"]),
            batch_size=batch_size,
            temperatures={k: float(v) for k, v in settings["temperatures"].items()},
        )
        clf.model.eval()
        resolved = resolve(precision)
        if resolved == "int8":
            return clf.quantize_int8()
        if resolved == "bf16":
            import torch

            clf.model = clf.model.to(torch.bfloat16)
        return clf
