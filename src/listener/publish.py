"""Where a listener's batches go in --dry-run: stdout.

A listener hands its batches to a ``Publish`` callable (see :mod:`listener.loop`); the
runtime supplies the production one, which publishes to the transport
(:class:`klachtradar.runtime.streaming.TransportPublisher`), and this module the
dry-run one. The listener never imports the runtime.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TextIO

from klachtradar.contract import DeadLetter, DeletedPost, RawPost
from listener.source import Record


@dataclass
class JsonLinesPrinter:
    """--dry-run: each normalised post as one JSON line on ``out``; dead letters and
    deletes on ``err`` (so ``out`` stays one post per line)."""

    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)

    def __call__(self, records: Sequence[Record]) -> None:
        for record in records:
            if isinstance(record, RawPost):
                self.out.write(record.model_dump_json(exclude_none=True) + "\n")
            elif isinstance(record, DeadLetter):
                self.err.write("dead letter: " + record.model_dump_json() + "\n")
            elif isinstance(record, DeletedPost):
                self.err.write("delete: " + record.model_dump_json() + "\n")
        self.out.flush()
        self.err.flush()
