"""klachtradar: Dutch social-media listening and complaint detection for webcare teams.

The package is the ground every other package stands on — the data contract
(:mod:`klachtradar.contract`), errors, settings, the watchlist, Dutch text helpers, the
ports stages and runtime meet at (:mod:`klachtradar.ports`) and the one backoff policy
(:mod:`klachtradar.backoff`) — plus, in :mod:`klachtradar.runtime`, the runtime that
composes and runs the stages, and the CLI (:mod:`klachtradar.cli`), which wires it all.
See ``docs/architecture.md``.
"""

from klachtradar.contract import SCHEMA_VERSION

__version__ = "0.1.0"
__all__ = ["SCHEMA_VERSION", "__version__"]
