"""papermill sees every parameter of every notebook's ``parameters`` cell.

Reference: the cell itself, parsed with Python's own ``ast`` (every name assigned at top level).
papermill's parser skips a line it cannot read (e.g. a comment holding ``=``) with only a log
line, and then warns "Passed unknown parameter" when ``vsw`` passes that name: the run still
works, but ``papermill --help-notebook`` no longer documents the parameter.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import papermill as pm
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_papermill_reads_every_parameter(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, f"{path.name}: one cell tagged 'parameters'"
    src = "".join(cells[0]["source"])
    names = [t.id for n in ast.parse(src).body if isinstance(n, ast.Assign) for t in n.targets
             if isinstance(t, ast.Name)]  # fmt: skip
    assert names and list(pm.inspect_notebook(str(path))) == names
