"""Where a listener's batches go: the transport (production), or stdout (--dry-run)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from klachtradar.contract import DeadLetter, RawPost
from klachtradar.runtime.runner import listen_step
from klachtradar.runtime.transport import Topics, Transport
from listener.source import Record


@dataclass
class TransportPublisher:
    """Posts to the raw topic keyed by author, dead letters to the DLQ; flushes each batch."""

    transport: Transport
    topics: Topics = field(default_factory=Topics)

    def __call__(self, records: Sequence[Record]) -> None:
        listen_step(records, self.transport, self.topics)


@dataclass
class JsonLinesPrinter:
    """--dry-run: each normalised post as one JSON line on ``out``; dead letters on ``err``."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def __call__(self, records: Sequence[Record]) -> None:
        for record in records:
            if isinstance(record, RawPost):
                self.out.write(record.model_dump_json(exclude_none=True) + "\n")
            elif isinstance(record, DeadLetter):
                self.err.write("dead letter: " + record.model_dump_json() + "\n")
        self.out.flush()
        self.err.flush()
