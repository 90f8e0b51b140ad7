"""The house rules that keep the package livable, checked on the source itself.

* the layers contract (.importlinter) holds: `lint-imports` passes;
* no import cycles between any two modules of the package (Tarjan's strongly connected
  components over grimp's import graph);
* nothing outside methods.design reads a design's private state (`design._w`, `d._rep`, ...);
* imports inside functions only for the heavy optional packages (matplotlib, dask), or the
  command line's lazy command handlers, each with a reason on the line or the line above.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "methods"


def test_the_layers_contract_holds():
    exe = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(exe)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "1 kept, 0 broken" in res.stdout


def _strongly_connected(graph, modules):
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.find_modules_directly_imported_by(v):
            if w not in modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for m in sorted(modules):
        if m not in index:
            visit(m)
    return out


def test_no_import_cycles_between_modules():
    graph = grimp.build_graph("methods", exclude_type_checking_imports=True)
    # package __init__ modules re-export their submodules' names: an edge from a package to
    # its own submodule is the re-export, not a dependency of the submodule
    modules = {
        m
        for m in graph.modules
        if not (SRC / m.replace("methods.", "", 1).replace(".", "/")).is_dir()
    }
    modules.discard("methods")
    cycles = [sorted(c) for c in _strongly_connected(graph, modules) if len(c) > 1]
    assert not cycles, cycles


def test_nothing_outside_design_reads_a_designs_private_state():
    private = re.compile(
        r"\b(?!self\b)[a-z_]+\._(data|w|calibrations|replace|rep[a-z_]*|strata[a-z_]*|psu|fpc"
        r"|single_psu|struct|names|lin_variance|derive)\b"
    )
    hits = []
    for p in SRC.rglob("*.py"):
        if p.parent.name == "design":
            continue
        for i, line in enumerate(p.read_text().splitlines(), 1):
            if private.search(line) and not line.lstrip().startswith("#"):
                hits.append(f"{p.relative_to(SRC)}:{i}: {line.strip()}")
    assert not hits, "\n".join(hits)


ALLOWED_LAZY = re.compile(r"^(matplotlib|dask|distributed|scrubadub)(\.|$)")


def test_in_function_imports_only_for_heavy_optional_packages():
    bad = []
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC)
        text = p.read_text()
        lines = text.splitlines()
        tree = ast.parse(text)
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if not isinstance(node, ast.Import | ast.ImportFrom):
                    continue
                names = (
                    [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else [node.module or ""]
                )
                if str(rel) == "cli.py" and all(
                    re.match(r"(methods|numpy|pandas)(\.|$)", n) for n in names
                ):
                    continue  # command handlers load when their command runs (vsw starts fast)
                if not all(ALLOWED_LAZY.match(n) for n in names):
                    bad.append(f"{rel}:{node.lineno}: {lines[node.lineno - 1].strip()}")
                    continue
                here = lines[node.lineno - 1]
                above = lines[max(0, node.lineno - 4) : node.lineno - 1]
                if "#" not in here and not any(a.strip().startswith("#") for a in above):
                    bad.append(f"{rel}:{node.lineno}: no reason given")
    assert not bad, "\n".join(bad)


def test_every_notebook_is_the_executed_copy_of_its_jupytext_pair():
    """notebooks/<name>.ipynb holds exactly the cells of notebooks/<name>.py (re-run
    `make notebooks` after editing a .py), so the reviewed source is what nbval checks."""
    import jupytext
    import nbformat

    pairs = sorted((ROOT / "notebooks").glob("*.py"))
    assert len(pairs) >= 4
    for py in pairs:
        nb = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
        src = jupytext.read(py)
        got = [(c.cell_type, c.source) for c in nb.cells]
        want = [(c.cell_type, c.source) for c in src.cells]
        assert got == want, f"{py.name} and its .ipynb differ: run make notebooks"
