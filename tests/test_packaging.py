"""The packaging promises of the foundation issue: pyproject and environment.yml agree."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge spells a few distributions differently
CONDA_NAMES = {"duckdb": "python-duckdb", "dask": "dask"}


def _split(req: str) -> tuple[str, str | None]:
    m = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(>=\s*([\w.]+))?", req.strip())
    assert m, req
    return m.group(1).lower(), m.group(4)


def _pyproject() -> dict[str, str | None]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"]) + list(
        data["project"]["optional-dependencies"]["test"]
    )
    return dict(_split(r) for r in reqs)


def _environment() -> dict[str, str | None]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out: dict[str, str | None] = {}
    for dep in env["dependencies"]:
        items = dep["pip"] if isinstance(dep, dict) else [dep]
        for item in items:
            if item.startswith("-e") or item in ("pip",):
                continue
            name, ver = _split(item)
            out[name] = ver
    return out


def test_environment_yml_lists_every_pyproject_dependency_with_the_same_minimum():
    py = _pyproject()
    env = _environment()
    missing = []
    differ = []
    for name, ver in py.items():
        conda = CONDA_NAMES.get(name, name)
        if conda not in env:
            missing.append(name)
        elif env[conda] != ver:
            differ.append((name, ver, env[conda]))
    assert not missing, f"in pyproject.toml but not environment.yml: {missing}"
    assert not differ, f"minimum versions differ (name, pyproject, environment.yml): {differ}"
    # dask[distributed] is split into dask + distributed on conda-forge
    assert env.get("distributed") == py["dask"]


def test_design_card_stack_is_declared():
    py = _pyproject()
    for name in (
        "jupyterlab",
        "pandas",
        "numpy",
        "scikit-learn",
        "samplics",
        "matplotlib",
        "nbval",
        "papermill",
        "duckdb",
        "dask",
        "tqdm",
    ):
        assert name in py, name
        assert py[name], f"{name} has no minimum version"


def test_ci_runs_the_readme_test_command():
    readme_head = (ROOT / "README.md").read_text().splitlines()[:6]
    assert any("make report" in line for line in readme_head)
    assert any("make test" in line for line in readme_head)
    assert "make test" in (ROOT / ".ci" / "run").read_text()
