"""Execute the research and report notebooks from their jupytext pairs and save them with outputs.

Each ``notebooks/<name>.py`` (jupytext percent format, the file to edit and review) is turned
into ``notebooks/<name>.ipynb``, executed top to bottom in a fresh kernel with its default
parameters, and written with its outputs, so that ``pytest --nbval`` (strict) can check that a
fresh run gives the same outputs. Run after editing a notebook or anything its numbers depend on:

    .venv/bin/python tools/run_notebooks.py            # every notebook
    .venv/bin/python tools/run_notebooks.py weighting  # one
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


def run(name: str) -> Path:
    """Build ``notebooks/<name>.ipynb`` from ``<name>.py``, execute it and write it."""
    src = NOTEBOOKS / f"{name}.py"
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata.setdefault("jupytext", {})["formats"] = "ipynb,py:percent"
    nb.metadata["jupytext"].pop("text_representation", None)
    NotebookClient(
        nb,
        timeout=1200,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    out = NOTEBOOKS / f"{name}.ipynb"
    nbformat.write(nb, out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="execute notebooks/<name>.py into <name>.ipynb")
    ap.add_argument("names", nargs="*", help="notebook names (default: all)")
    args = ap.parse_args(argv)
    names = args.names or sorted(p.stem for p in NOTEBOOKS.glob("*.py"))
    for name in names:
        print(f"executing notebooks/{name}.py ...", flush=True)
        print(f"wrote {run(name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
