"""Where the runtime and the stages meet: a processed batch and where it goes.

The stages (``listener``, ``classify``, ``enrich``, ``sink``) and the triage app never
import the runtime (:mod:`klachtradar.runtime`); when they hand work to it or take
work from it, they use these types, which the runtime uses too:

* :data:`Record` — what a source yields: a post, the dead letter of bad input, or a
  post's delete;
* :class:`PipelineOutput` — what the pipeline made of one batch;
* :class:`Outputs` — where a processed batch goes (the embedded store, Elasticsearch,
  the dead-letter file …); the runners write to it, the sinks implement it.

See ``docs/architecture.md`` for the rooms and the one direction of imports.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from klachtradar.contract import Alert, DeadLetter, DeletedPost, RawPost, ScoredPost

Record = RawPost | DeadLetter | DeletedPost
"""One item of a source's batch: a post, the dead letter of input that was not one, or
the delete of a post (a platform delete event, or ``klachtradar forget``)."""


@dataclass
class PipelineOutput:
    """What one batch produced."""

    scored: list[ScoredPost] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    deleted: list[DeletedPost] = field(default_factory=list)
    """Posts to remove from every sink (and to keep out: sinks keep the tombstones)."""


class Outputs(Protocol):
    """Where a processed batch goes (store, dead letters, alert stream …)."""

    def write(self, output: PipelineOutput) -> None:
        """Persist one batch's output; raise :class:`~klachtradar.errors.SinkError` on failure."""
        ...
