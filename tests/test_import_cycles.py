"""No import cycles inside ``visualizer/``: between modules, and between subpackages.

Every import counts, at module level or inside a function: a lazy import
hides a cycle from Python at import time, not from the design. The
subpackages are layered; each imports only from the layers below it:

    errors, config,  the expected errors; the experiment config; atomic PNG files
    pngio            with text metadata (nothing of the project)
    data, models     datasets (reads config); networks, the layer catalogue and graph
                     surgery (`models.graph`: truncation, pre-ReLU layers, grid geometry,
                     every read of Keras internals)
    render, train    feature visualization (models); training and snapshots (config, data, models)
    prior            the generative prior and weight ablation (models, render)
    analysis         measurements of images, networks and atlas catalogs (models)
    atlas            plans, rendering into an atlas, its catalog and methods (all of the above)
    cli              the `vtl` command line (it loads the command modules by name)

So the frozen-graph renderer is `render.frozen_graph` (models only wraps the
graph), the atlas's batch renderer is `atlas.batch` (which `job` and
`workers` both import), image measurements and read-only catalog access are
in `analysis` (`spatial`, `readonly`), which the atlas imports, and PNG files
with metadata are written by `pngio`, which the atlas and the prior's command share.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "visualizer"

# The layers of the docstring, lowest first; a subpackage imports only from lower layers.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "config", "pngio"),
    ("data", "models"),
    ("render", "train"),
    ("prior",),
    ("analysis",),
    ("atlas",),
    ("cli",),
)

Graph = dict[str, dict[str, list[str]]]  # module -> {imported module: ["path:line", ...]}


def module_graph(root: Path, package: str) -> Graph:
    """The imports between the modules of `package` (a folder under `root`), inside functions too.

    An import resolves to the longest module name of the package it names:
    ``from visualizer.render import backend`` to ``visualizer.render.backend``,
    ``from visualizer.render import render_channels`` to ``visualizer.render``
    (its ``__init__``). Imports of other packages and of a module itself are left out.
    """
    files: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path

    def resolve(name: str) -> str | None:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: Graph = {name: {} for name in files}
    for name, path in files.items():
        package_parts = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets = [resolve(alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package_parts[: len(package_parts) - node.level + 1]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [resolve(f"{module}.{alias.name}") for alias in node.names]
            else:
                continue
            where = f"{path.relative_to(root)}:{node.lineno}"
            for target in targets:
                if target is None or target == name:
                    continue
                places = graph[name].setdefault(target, [])
                if where not in places:
                    places.append(where)
    return graph


def subpackage(module: str) -> str:
    """``visualizer.atlas.job`` -> ``visualizer.atlas``; ``visualizer.cli`` stays itself."""
    return ".".join(module.split(".")[:2])


def subpackage_graph(graph: Graph) -> Graph:
    """`graph` with each module replaced by its subpackage (imports within one subpackage left out)."""
    merged: Graph = {subpackage(name): {} for name in graph}
    for name, targets in graph.items():
        for target, places in targets.items():
            if subpackage(target) != subpackage(name):
                merged[subpackage(name)].setdefault(subpackage(target), []).extend(places)
    for targets in merged.values():
        for target, places in targets.items():
            targets[target] = list(dict.fromkeys(places))
    return merged


def find_cycles(graph: Graph) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` through each strongly connected component of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, {})):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: Graph, component: list[str]) -> list[str]:
    """A shortest cycle through the first node of a strongly connected `component`."""
    members, start = set(component), component[0]
    paths = {start: [start]}
    queue = [start]
    for node in queue:  # breadth first, within the component
        for target in sorted(graph[node]):
            if target == start:
                return [*paths[node], start]
            if target in members and target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"{component} is not strongly connected")  # unreachable for a component


def describe_cycles(graph: Graph, cycles: Iterable[list[str]]) -> str:
    """Each cycle on one line, then the imports that make it, file and line."""
    lines = []
    for cycle in cycles:
        lines.append(" -> ".join(cycle))
        for source, target in zip(cycle, cycle[1:]):
            lines.append(f"    {source} imports {target} at {', '.join(graph[source][target])}")
    return "\n".join(lines)


def assert_acyclic(graph: Graph, what: str) -> None:
    """Fail, naming each cycle and the imports that close it, when `graph` has a cycle."""
    cycles = find_cycles(graph)
    assert not cycles, f"import cycles between {what}:\n{describe_cycles(graph, cycles)}"


@pytest.fixture(scope="module")
def graph() -> Graph:
    return module_graph(ROOT, PACKAGE)


def test_the_checker_reads_the_package(graph):
    # Lazy imports count: the worker process imports the batch renderer inside a function.
    assert "visualizer.atlas.batch" in graph["visualizer.atlas.workers"]
    assert "visualizer.models.graph" in graph["visualizer.render.render"]
    assert len(graph) > 50


def test_no_cycles_between_modules(graph):
    assert_acyclic(graph, "modules")


def test_no_cycles_between_subpackages(graph):
    assert_acyclic(subpackage_graph(graph), "subpackages")


def test_subpackages_import_only_lower_layers(graph):
    rank = {f"{PACKAGE}.{name}": level for level, names in enumerate(LAYERS) for name in names}
    subpackages = subpackage_graph(graph)
    unknown = sorted(set(subpackages) - set(rank) - {PACKAGE})
    assert not unknown, f"subpackages missing from LAYERS (and the docstring's layers): {unknown}"
    wrong = [
        f"{source} (layer {rank[source]}) imports {target} (layer {rank[target]}) at {', '.join(places)}"
        for source, targets in sorted(subpackages.items())
        if source != PACKAGE
        for target, places in sorted(targets.items())
        if target != PACKAGE and rank[target] >= rank[source]
    ]
    assert not wrong, "imports that do not go down the layers:\n" + "\n".join(wrong)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_a_planted_module_cycle_fails(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from pkg import b\n",
            "pkg/b.py": "def late():\n    from . import a\n    return a\n",  # lazy and relative
            "pkg/c.py": "import pkg.a\n",  # imports into the cycle, not part of it
        },
    )
    graph = module_graph(tmp_path, "pkg")
    assert find_cycles(graph) == [["pkg.a", "pkg.b", "pkg.a"]]
    with pytest.raises(AssertionError, match=r"pkg\.a -> pkg\.b -> pkg\.a") as error:
        assert_acyclic(graph, "modules")
    assert "pkg/b.py:2" in str(error.value)


def test_a_planted_subpackage_cycle_fails(tmp_path):
    _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/low/__init__.py": "",
            "pkg/low/base.py": "def helper():\n    from ..high.top import thing\n    return thing\n",
            "pkg/high/__init__.py": "",
            "pkg/high/top.py": "from pkg.low.base import helper\nthing = helper\n",
            "pkg/high/other.py": "from pkg.low import base\n",
        },
    )
    graph = module_graph(tmp_path, "pkg")
    assert find_cycles(graph) == [["pkg.high.top", "pkg.low.base", "pkg.high.top"]]
    with pytest.raises(AssertionError, match=r"pkg\.high -> pkg\.low -> pkg\.high"):
        assert_acyclic(subpackage_graph(graph), "subpackages")


def test_an_acyclic_package_passes(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/a.py": "import pkg.b\n", "pkg/b.py": "import os\n"})
    graph = module_graph(tmp_path, "pkg")
    assert graph == {"pkg": {}, "pkg.a": {"pkg.b": ["pkg/a.py:1"]}, "pkg.b": {}}
    assert_acyclic(graph, "modules")
