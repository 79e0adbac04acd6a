"""The layout of ``src/`` (docs/architecture.md): rooms, one direction of imports, no circles.

A small AST walk over every file under ``src/``: each import counts, ``import x.y`` and
``from x import y`` alike, at module level, inside functions and under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

GROUND = frozenset(
    {
        "klachtradar",
        "klachtradar.backoff",
        "klachtradar.contract",
        "klachtradar.dutch",
        "klachtradar.errors",
        "klachtradar.ports",
        "klachtradar.settings",
        "klachtradar.settings_env",
        "klachtradar.stream_events",
        "klachtradar.watchlist",
    }
)
"""What every package stands on; it imports nothing of the project outside itself."""

COMPOSITION_ROOT = frozenset({"klachtradar.cli", "klachtradar.__main__"})
STAGES = ("listener", "classify", "enrich", "sink", "notify")  # notify: an edge, like sink

MAY_IMPORT: dict[str, frozenset[str]] = {
    "ground": frozenset({"ground"}),
    **{stage: frozenset({"ground", stage}) for stage in STAGES},
    "triage": frozenset({"ground", "triage", "sink", "listener"}),
    "runtime": frozenset({"ground", "runtime", *STAGES}),
    "cli": frozenset({"ground", "runtime", "triage", "cli", *STAGES}),
}
"""Which rooms each room's modules may import (its own included)."""


def modules(src: Path) -> dict[str, Path]:
    """Dotted module name → file, for every ``.py`` under ``src`` (packages by ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted(src.rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _deepest(name: str, known: dict[str, Path]) -> str | None:
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """The project modules ``module`` imports, with the line of each import."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if (target := _deepest(alias.name, known)) is not None:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                target = full if full in known else _deepest(source, known)
                if target is not None:
                    yield target, node.lineno


def import_graph(src: Path) -> dict[str, dict[str, int]]:
    """Module → {imported module: first line}; self-imports left out."""
    known = modules(src)
    graph: dict[str, dict[str, int]] = {}
    for module, path in known.items():
        edges: dict[str, int] = {}
        for target, line in imports(module, path, known):
            if target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def room(module: str) -> str | None:
    """The room a module lives in; None for a klachtradar module that has none yet."""
    if module in GROUND:
        return "ground"
    if module in COMPOSITION_ROOT:
        return "cli"
    if module == "klachtradar.runtime" or module.startswith("klachtradar.runtime."):
        return "runtime"
    if module.startswith("klachtradar."):
        return None
    return module.split(".")[0]


def forbidden_imports(graph: dict[str, dict[str, int]], src: Path) -> list[str]:
    """One line per import that points the wrong way (or from or to a module without a room)."""
    problems = []
    for module, edges in sorted(graph.items()):
        here = room(module)
        for target, line in sorted(edges.items()):
            there = room(target)
            allowed = MAY_IMPORT.get(here or "", frozenset())
            if here is None or there is None or there not in allowed:
                where = modules(src)[module].relative_to(src)
                problems.append(f"{where}:{line}: {module} ({here}) imports {target} ({there})")
    return problems


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


# -- the tree as it is ---------------------------------------------------------------------


def test_every_module_has_a_room() -> None:
    homeless = [m for m in modules(SRC) if room(m) is None or room(m) not in MAY_IMPORT]
    assert not homeless, (
        f"{homeless}: put new modules in a room (the ground, klachtradar/runtime/ or a "
        "stage package) and, for the ground, add them to GROUND here and to the docs"
    )


def test_imports_point_one_way_stages_never_import_the_runtime() -> None:
    assert not forbidden_imports(import_graph(SRC), SRC)


def test_there_is_no_file_level_import_cycle_under_src() -> None:
    assert not cycles(import_graph(SRC))


def test_the_triage_app_is_its_own_package_beside_the_stages() -> None:
    assert (SRC / "triage" / "static" / "app.js").is_file()
    assert (SRC / "triage" / "templates" / "index.html").is_file()
    assert not (SRC / "sink" / "triage").exists()


# -- the checks themselves, on a made-up tree ----------------------------------------------


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize(
    "statement",
    [
        "from klachtradar.runtime.runner import run_embedded",
        "import klachtradar.runtime.runner",
        "from klachtradar.runtime import runner",
        "from klachtradar import cli",
        "def f() -> None:\n    from klachtradar.runtime.runner import run_embedded",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import klachtradar.runtime",
    ],
)
def test_a_stage_importing_the_runtime_in_any_form_is_caught(
    tmp_path: Path, statement: str
) -> None:
    src = _tree(
        tmp_path,
        {
            "klachtradar/__init__.py": "",
            "klachtradar/cli.py": "",
            "klachtradar/runtime/__init__.py": "",
            "klachtradar/runtime/runner.py": "",
            "sink/__init__.py": "",
            "sink/store.py": statement + "\n",
        },
    )
    problems = forbidden_imports(import_graph(src), src)
    assert len(problems) == 1 and problems[0].startswith("sink/store.py:")


def test_the_ground_importing_a_stage_is_caught(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "klachtradar/__init__.py": "",
            "klachtradar/contract.py": "from sink import store\n",
            "sink/__init__.py": "",
            "sink/store.py": "from klachtradar.contract import X\n",
        },
    )
    assert forbidden_imports(import_graph(src), src) == [
        "klachtradar/contract.py:1: klachtradar.contract (ground) imports sink.store (sink)"
    ]


def test_a_cycle_through_relative_and_function_level_imports_is_caught(tmp_path: Path) -> None:
    src = _tree(
        tmp_path,
        {
            "sink/__init__.py": "",
            "sink/store.py": "from .queries import PostFilter\n",
            "sink/queries.py": "def open():\n    from sink.es.queries import Q\n",
            "sink/es/__init__.py": "",
            "sink/es/queries.py": "from ..store import BrandCount\n",
            "sink/lone.py": "import sink.store\n",
        },
    )
    assert cycles(import_graph(src)) == [["sink.es.queries", "sink.queries", "sink.store"]]
