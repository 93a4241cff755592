"""The package's shape: imports run one way only, between files and between packages.

Every ``import`` of an ``actrec`` module counts, also those inside functions (a lazy import is still a tie).
"""

from __future__ import annotations

import ast
import graphlib
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in (ROOT / "actrec").rglob("*.py")}


def imported(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        # "from actrec.x import y": y is a module or a name in actrec.x; resolve_module picks whichever exists.
        return [f"{node.module}.{a.name}" for a in node.names]
    return []


def resolve_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """module -> the actrec modules it imports (a package's ``__init__`` is the package's name)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for name in imported(node):
                target = resolve_module(name) if name.startswith("actrec.") else None
                # A module importing its own package's __init__ (or a submodule its __init__ re-exports) is not a tie.
                if target and target != module and not module.startswith(target + "."):
                    graph[module].add(target)
    return graph


def package_of(module: str) -> str:
    """actrec.data.shards -> actrec.data; actrec.config -> actrec.config (a top-level module is its own unit)."""
    return ".".join(module.split(".")[:2])


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as err:
        return list(err.args[1])
    return None


def test_the_graph_sees_imports_of_every_kind():
    graph = import_graph()
    assert "actrec.data.shards" in graph["actrec.data.pipeline"]  # a module-level "from ... import name"
    assert "actrec.data.pose" in graph["actrec.data.config"]  # an import inside a function
    assert "actrec.report.spec" in graph["actrec.tune.spec"]


def test_no_import_cycle_between_files():
    assert cycle(import_graph()) is None


def test_no_import_cycle_between_packages():
    packages: dict[str, set[str]] = {}
    for module, targets in import_graph().items():
        ties = packages.setdefault(package_of(module), set())
        ties.update(package_of(t) for t in targets if package_of(t) != package_of(module))
    assert cycle(packages) is None


@pytest.mark.parametrize(
    "graph, found",
    [({"a": {"b"}, "b": {"c"}, "c": set()}, False), ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, True)],
)
def test_cycle_finds_a_cycle_and_only_a_cycle(graph, found):
    assert (cycle(graph) is not None) is found


def test_only_sweeps_and_the_papers_themselves_import_a_paper_module():
    importers = sorted(
        module
        for module, targets in import_graph().items()
        if any(t == "actrec.papers" or t.startswith("actrec.papers.") for t in targets)
        and not module.startswith("actrec.papers")
    )
    assert importers == []
    assert "actrec.papers.mfst" in import_graph()["actrec.papers.derecouple"]  # the graph does see paper imports


GENERIC = (
    "actrec.config",
    "actrec.cli",
    "actrec.errors",
    "actrec.tune",
    "actrec.train",
    "actrec.track",
    "actrec.report",
)


def generic(module: str) -> bool:
    """The packages that must not know which paper they run: tune, train, track, report, data outside its dataset
    adapters, and the top-level config, CLI and errors modules."""
    if module.startswith("actrec.data"):
        return not module.startswith("actrec.data.adapters")
    return any(module == g or module.startswith(g + ".") for g in GENERIC)


def test_generic_code_names_no_registered_model():
    from actrec.models import list_models, model_class

    # The package's own models (a test may have registered a plug-in's in this process).
    registered = [n for n in list_models() if model_class(n).__module__.startswith("actrec.")]
    names = re.compile(r"\b(" + "|".join(map(re.escape, registered)) + r")\b")
    found = [
        f"{MODULES[m].relative_to(ROOT)}:{n}: {line.strip()}"
        for m in sorted(MODULES)
        if generic(m)
        for n, line in enumerate(MODULES[m].read_text().splitlines(), 1)
        if names.search(line)
    ]
    assert found == []
    assert generic("actrec.data.pipeline") and not generic("actrec.data.adapters.ntu") and not generic("actrec.papers")


def test_the_readme_fits_150_lines():
    """The README a newcomer reads top to bottom (issue 22): per-paper notes, the cluster manual, performance and
    results live in their own files."""
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 150, len(lines)
