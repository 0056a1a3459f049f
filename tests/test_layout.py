"""The package's layout: layers import only downwards, no import cycles, few top-level modules, a thin CLI."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, Set

from conftest import ROOT

PACKAGE = ROOT / "goldyolo"
# a module may import its own layer and the layers below it
LAYERS = {"errors": 0, "config": 0, "runtime": 0, "distributed": 0, "setup": 0, "utils": 0, "ops": 0, "models": 1,
          "data": 2, "eval": 3, "engine": 4, "bench": 5, "compare": 5, "commands": 7, "cli": 7,
          "__main__": 8, "__init__": 8}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, top_level_only: bool) -> Set[str]:
    """goldyolo modules ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("goldyolo"):
                known = [f"{target}.{alias.name}" for alias in node.names
                         if (PACKAGE.parent / f"{target}.{alias.name}".replace(".", "/")).with_suffix(".py").exists()
                         or (PACKAGE.parent / f"{target}.{alias.name}".replace(".", "/")).is_dir()]
                found.update(known or [target])
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("goldyolo"))
    return found


def layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS["__init__"] if len(parts) == 1 else LAYERS[parts[1]]


def graph(top_level_only: bool) -> Dict[str, Set[str]]:
    return {module_name(p): imports(p, top_level_only) for p in PACKAGE.rglob("*.py")}


def test_layers_import_only_downwards():
    # ``from .. import __version__`` names the package itself (t == "goldyolo"): allowed, it holds no logic
    wrong = [f"{m} -> {t}" for m, targets in graph(top_level_only=False).items() for t in targets
             if t != "goldyolo" and layer(t) > layer(m)]
    assert not wrong, wrong


def find_cycle(edges: Dict[str, Set[str]]):
    """An import cycle of ``edges`` (module -> modules it imports) as a list, or None."""
    done: Set[str] = set()

    def visit(node, stack):
        if node in stack:
            return stack[stack.index(node):] + [node]
        if node in done:
            return None
        for target in sorted(edges.get(node, ())):
            if target in edges and target != node:
                found = visit(target, stack + [node])
                if found:
                    return found
        done.add(node)
        return None
    for start in sorted(edges):
        found = visit(start, [])
        if found:
            return found
    return None


def test_no_import_cycles_even_through_imports_inside_functions():
    # imports inside functions are how goldyolo defers Jittor and PyTorch; between its own modules they must
    # still run one way, so the graph includes them
    cycle = find_cycle(graph(top_level_only=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_a_planted_cycle_inside_a_function_is_found():
    runtime = PACKAGE / "runtime.py"  # it reads setup's record inside a function, before Jittor loads
    assert "goldyolo.setup.record" in imports(runtime, top_level_only=False)
    assert "goldyolo.setup.record" not in imports(runtime, top_level_only=True)
    planted = graph(top_level_only=False)
    planted["goldyolo.setup.record"] = planted["goldyolo.setup.record"] | {"goldyolo.runtime"}
    assert find_cycle(planted) == ["goldyolo.runtime", "goldyolo.setup.record", "goldyolo.runtime"]


def test_few_top_level_modules_and_a_thin_cli():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 8, top
    assert len((PACKAGE / "cli.py").read_text().splitlines()) < 200


def test_every_top_level_folder_is_a_known_layer():
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__")
    assert folders == sorted(k for k in LAYERS if (PACKAGE / k).is_dir())
    assert all((PACKAGE / f / "__init__.py").exists() for f in folders)


def test_public_api_resolves():
    import goldyolo
    for name in goldyolo.__all__:
        assert getattr(goldyolo, name) is not None, name
    assert callable(goldyolo.build_model) and callable(goldyolo.fuse) and goldyolo.jt.__name__ == "jittor"


def test_every_import_of_the_package_names_a_module_that_exists():
    def exists(module: str) -> bool:
        path = PACKAGE.parent / module.replace(".", "/")
        return path.with_suffix(".py").exists() or (path / "__init__.py").exists()
    # ``from .module import name`` resolves to the module (a moved module's old name would not)
    missing = [f"{m} -> {t}" for m, targets in graph(top_level_only=False).items() for t in targets if not exists(t)]
    assert not missing, missing


def test_the_library_installs_without_the_study():
    import re

    from setuptools import find_packages
    include = re.search(r'include = (\[.*\])', (ROOT / "pyproject.toml").read_text()).group(1)
    packages = find_packages(str(ROOT), include=ast.literal_eval(include))  # the list pyproject gives setuptools
    assert "goldyolo" in packages and "goldyolo.engine" in packages
    assert not [p for p in packages if "study" in p], packages
    assert (ROOT / "study" / "goldyolo_study" / "report.py").is_file()
