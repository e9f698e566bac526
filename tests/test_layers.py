"""The package's layers, stated once and checked from its imports (ast): no circle, and no import upwards.

A module may import its own layer and the layers below it. Layers on one level
(training and search) do not import each other. Imports that only type-check
(`if TYPE_CHECKING:`) are not counted: they never run. Function-level imports
are: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "harness"

# (level, layer, the modules it holds: a package or a module), lowest first. `harness` itself is the
# package's face: it imports nothing until a public name is asked for (harness/__init__.py).
LAYERS = [
    (0, "foundation", ("harness", "harness.datasets", "harness.files", "harness.layout", "harness.metrics",
                       "harness.quiet", "harness.record", "harness.venv")),
    (1, "config", ("harness.config", "harness.hparams")),
    (2, "training", ("harness.training",)),
    (2, "search", ("harness.search",)),
    (3, "racing", ("harness.racing",)),
    (4, "analysis", ("harness.analysis",)),
    (5, "sweep", ("harness.sweep",)),
    (6, "serving", ("harness.serving",)),
    (7, "commands", ("harness.cli", "harness.__main__")),
]


def layer_of(module: str) -> tuple[int, str]:
    best = max(((prefix, level, name) for level, name, prefixes in LAYERS for prefix in prefixes
                if module == prefix or (prefix != "harness" and module.startswith(prefix + "."))), key=lambda t: len(t[0]))
    return best[1], best[2]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _type_checking_only(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The harness modules `module` imports when it runs (its own package's faces left out)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if _type_checking_only(node):
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                found.add(target if target in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    return {m for m in found if m in known and m != module}


def graph() -> dict[str, set[str]]:
    known = modules()
    return {m: imports(m, p, known) for m, p in known.items()}


def test_every_module_has_a_layer():
    for module in modules():
        assert layer_of(module), module  # max() of no layer raises


def test_no_module_imports_a_higher_layer_or_a_peer():
    wrong = []
    for module, targets in graph().items():
        level, name = layer_of(module)
        for target in targets:
            t_level, t_name = layer_of(target)
            if t_level > level or (t_level == level and t_name != name):
                wrong.append(f"{module} ({name}) imports {target} ({t_name})")
    assert not wrong, "\n".join(wrong)


def circles(edges: dict[str, set[str]]) -> list[str]:
    """Each import loop found by a depth-first walk, as `a -> b -> a`."""
    state: dict[str, str] = {}
    found: list[str] = []

    def walk(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                found.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(edges):
        if node not in state:
            walk(node, [node])
    return found


def test_no_import_circle():
    found = circles(graph())
    assert not found, "\n".join(found)


def test_the_checks_see_a_circle_and_an_upward_import(tmp_path):
    """The checker itself: a planted circle and a planted upward import are found."""
    pkg = tmp_path / "harness"
    (pkg / "config").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "config" / "__init__.py").write_text("")
    (pkg / "config" / "a.py").write_text("def f():\n    from harness.sweep import engine\n")
    (pkg / "config" / "b.py").write_text("from harness.config import a\n")
    (pkg / "config" / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                          "    from harness.sweep import engine\n")
    (pkg / "sweep").mkdir()
    (pkg / "sweep" / "__init__.py").write_text("")
    (pkg / "sweep" / "engine.py").write_text("from harness.config import b\n")
    known = {"harness.config.a": pkg / "config" / "a.py", "harness.config.b": pkg / "config" / "b.py",
             "harness.config.c": pkg / "config" / "c.py", "harness.sweep.engine": pkg / "sweep" / "engine.py"}
    assert imports("harness.config.a", known["harness.config.a"], known) == {"harness.sweep.engine"}
    assert imports("harness.config.c", known["harness.config.c"], known) == set()
    assert imports("harness.sweep.engine", known["harness.sweep.engine"], known) == {"harness.config.b"}
    edges = {m: imports(m, p, known) for m, p in known.items()}
    assert circles(edges) == ["harness.config.a -> harness.sweep.engine -> harness.config.b -> harness.config.a"]
    assert layer_of("harness.sweep.engine") > layer_of("harness.config.a")
