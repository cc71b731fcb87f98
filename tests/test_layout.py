"""The package's layering: no import cycles, lower layers never import upper ones, and importing
bert_ofa reads no data set and starts no process."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# what each layer may import (besides itself and bert_ofa.records); glue_tasks sits above training
ALLOWED = {
    "core": set(),
    "training": {"core"},
    "search": {"core"},
    "export": {"core"},
    "glue_tasks": {"core", "training"},
    "app": {"core", "training", "search", "export", "glue_tasks"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, name: str) -> set[str]:
    """Every module ``path`` imports, at the top or inside functions, resolved to a module of ours."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # "from .core import convert" names a module
    return {m for m in found if m.split(".")[0] in ("bert_ofa", "glue_tasks")}


def _graph() -> dict[str, set[str]]:
    files = [p for d in ("bert_ofa", "glue_tasks") for p in (ROOT / d).rglob("*.py")]
    modules = {_module_name(p): p for p in files}
    return {m: {i for i in _imports(p, m) if i in modules and i != m} for m, p in modules.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "glue_tasks":
        return "glue_tasks"
    return parts[1] if len(parts) > 1 and parts[1] in ALLOWED else None


def test_no_import_cycles():
    graph = _graph()
    # a package's __init__ re-exports its submodules: count the edges between modules, not into packages
    edges = {m: {i for i in deps if not (ROOT / i.replace(".", "/") / "__init__.py").is_file()}
             for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges.get(m, ())):
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d] if d in stack else [m, d])
            elif d not in state:
                visit(d, stack + [d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_lower_layers_never_import_upper_ones():
    bad = []
    for module, deps in _graph().items():
        layer = _layer(module)
        if layer is None:
            continue
        for dep in deps:
            other = _layer(dep)
            if other is not None and other != layer and other not in ALLOWED[layer]:
                bad.append(f"{module} -> {dep}")
    assert bad == []


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_every_layer_has_modules(layer):
    path = ROOT / ("glue_tasks" if layer == "glue_tasks" else f"bert_ofa/{layer}")
    assert len(list(path.glob("*.py"))) >= 2


def test_import_reads_no_data_set_and_starts_no_process():
    code = ("import subprocess, sys\n"
            "def refuse(*a, **k): raise AssertionError('import started a process')\n"
            "subprocess.run = subprocess.Popen = refuse\n"
            "import bert_ofa\n"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('datasets', 'glue_tasks'))\n"
            "assert not bad, bad\n"
            "print(len(bert_ofa.__all__))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 30
