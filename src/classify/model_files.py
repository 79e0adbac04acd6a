"""Reading and writing model artefacts with skops, never pickle.

A pickle runs arbitrary code when loaded; a model directory may come from a
colleague's laptop or a CI artefact. skops stores the object tree as data and, on
load, refuses every type it does not trust. We trust exactly the types our own
backends write (scikit-learn, numpy, scipy sparse and a few builtins) and raise
:class:`~klachtradar.errors.ConfigError` for anything else.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from klachtradar.errors import ConfigError

TRUSTED_PREFIXES: tuple[str, ...] = (
    "sklearn.",
    "numpy.",
    "scipy.sparse.",
    "builtins.",
    "collections.",
)


def save_skops(state: dict[str, Any], path: Path) -> Path:
    """Write ``state`` to ``path`` (parents created)."""
    import skops.io as sio

    path.parent.mkdir(parents=True, exist_ok=True)
    sio.dump(state, path, compression=zipfile.ZIP_DEFLATED)
    return path


def load_skops(path: Path) -> dict[str, Any]:
    """Read a skops file, trusting only :data:`TRUSTED_PREFIXES` types."""
    import skops.io as sio

    if not path.is_file():
        raise ConfigError(f"{path}: model artefact missing")
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ConfigError(f"{path}: refusing to load untrusted types {refused}")
    state = sio.load(path, trusted=untrusted)
    if not isinstance(state, dict):
        raise ConfigError(f"{path}: not a klachtradar model artefact")
    return state
