"""Helpers for tests that compare against R's survey package (scripts live in tests/r/).

R writes its reference figures as a long CSV (case, key, est, se, lo, hi, deff, df, p) at test
time; nothing R produces is committed. Tests that need R are marked ``pytest.mark.r`` and skip
with a reason only when ``Rscript`` is absent.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

R_DIR = Path(__file__).parent / "r"
RSCRIPT = shutil.which("Rscript")

requires_r = pytest.mark.skipif(
    RSCRIPT is None,
    reason="Rscript not found: install r-base-core, r-cran-survey and r-cran-mass to run the "
    "cross-checks against R's survey package",
)

#: Tolerances of the acceptance criteria: estimates 1e-8 relative; SEs, CI bounds 1e-5.
RTOL_EST = 1e-8
RTOL_SE = 1e-5


def run_r(script: str, *args: object, timeout: float = 120) -> None:
    """Run ``tests/r/<script>`` with Rscript; fail the test with R's stderr if it fails."""
    assert RSCRIPT is not None
    proc = subprocess.run(
        [RSCRIPT, "--vanilla", str(R_DIR / script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        pytest.fail(f"Rscript {script} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")


def load_reference(path: Path) -> dict[str, pd.DataFrame]:
    """Read the long reference CSV into ``{case: frame indexed by key}``."""
    df = pd.read_csv(path, keep_default_na=True, dtype={"key": str})
    df["key"] = df["key"].fillna("")
    return {case: g.set_index("key") for case, g in df.groupby("case", sort=False)}


#: Committed copies of R's figures (``make r-reference``), used where R is not installed.
REFERENCE_DIR = Path(__file__).parent / "reference"


def export_api(out_dir: Path) -> dict[str, pd.DataFrame]:
    """R's api data (apistrat, apiclus1, apisrs): exported by R into ``out_dir`` when R is
    installed, otherwise the committed copy in ``tests/reference/api/``."""
    if RSCRIPT is not None:
        run_r("export_api.R", out_dir)
    else:
        out_dir = REFERENCE_DIR / "api"
    return {nm: pd.read_csv(out_dir / f"{nm}.csv") for nm in ("apistrat", "apiclus1", "apisrs")}


def r_or_committed(script: str, committed: Path, *args: object) -> Path:
    """Run ``tests/r/<script> *args`` when R is installed (the last argument is the output it
    writes, returned); without R, return the committed copy ``committed`` instead."""
    if RSCRIPT is None:
        return committed
    run_r(script, *args)
    return Path(args[-1])


def assert_matches(ours: pd.DataFrame, ref: pd.DataFrame, *, fields=None) -> None:
    """Compare estimator output with R's figures.

    Arguments:
        ours: our estimator output (estimate, se, ci_low, ci_high, deff; index = domains).
        ref: R's rows for the case (index = key, "" for a single statistic).
        fields: subset of ("est", "se", "lo", "hi", "deff", "df", "p") to compare; default all
            that R reported (non-missing).
    """
    mapping = {
        "est": ("estimate", RTOL_EST),
        "se": ("se", RTOL_SE),
        "lo": ("ci_low", RTOL_SE),
        "hi": ("ci_high", RTOL_SE),
        "deff": ("deff", RTOL_SE),
        "p": ("p_value", RTOL_SE),
    }
    tab = ours.copy()
    if "df" not in tab.columns and ours.attrs.get("df") is not None:
        tab["df"] = ours.attrs["df"]
    if len(ref) == 1 and len(tab) == 1:
        keys = [ref.index[0]]
        mine = tab.iloc[[0]].set_axis(keys)
    else:
        # R names svyby rows by the level, or "a.b" for several by variables
        keys_ours = [".".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in tab.index]
        mine = tab.set_axis(keys_ours)
        keys = list(ref.index)
        missing = set(keys) - set(mine.index)
        assert not missing, f"domains in R but not ours: {missing}"
        mine = mine.loc[keys]
    fields = fields or [f for f in mapping if ref[f].notna().any()] + (
        ["df"] if ref["df"].notna().any() else []
    )
    if "se" not in fields and "se" in mine.columns and ref["est"].notna().any():
        # R gave an estimate with an NA standard error (e.g. survey.lonely.psu="average" with
        # nothing to average over): ours must be NaN too, not a number
        m = mine["se"].to_numpy(float)
        assert np.isnan(m).all(), f"R's SE is NA, ours is {m}"
    for f in fields:
        r = ref[f].to_numpy(float)
        if f == "df":
            m = mine["df"].to_numpy(float)
            np.testing.assert_allclose(m, r, rtol=0, atol=1e-9, err_msg="df differs from R")
            continue
        col, rtol = mapping[f]
        m = mine[col].to_numpy(float)
        np.testing.assert_array_equal(np.isnan(m), np.isnan(r), err_msg=f"{col}: NaN pattern")
        ok = ~np.isnan(r)
        np.testing.assert_allclose(m[ok], r[ok], rtol=rtol, atol=0, err_msg=f"{col} differs from R")


OFFENCES = ("burglary", "vehicle", "violent", "hate", "asb", "fraud")


def make_victim_survey(seed: int = 20240501, rate: float = 0.12) -> pd.DataFrame:
    """A victim-satisfaction survey shaped like the workbench's (a few thousand respondents).

    Eight districts (strata) with population sizes ``N_h`` (the fpc); a stratified sample of
    about ``rate`` of each; respondents answer by telephone or paper, and their weights are
    ``N_h / n_h`` divided by a mode response rate (so weights vary within strata). Columns:
    district, N_h, w, offence (6 groups, categorical), ethnic2 (white/minority, missing when
    unknown), mode, sat (whole experience satisfied 0/1, missing for "don't know"), sat0,
    answered, score (treatment 1-7, some missing), age, half (two pseudo-PSUs per district,
    labels reused across districts) and batch (interviewer batches of about 25, labels reused).
    """
    rng = np.random.default_rng(seed)
    H = 8
    N_h = rng.integers(900, 7000, size=H)
    n_h = np.maximum(np.round(N_h * rate).astype(int), 40)
    district = np.repeat([f"d{h + 1}" for h in range(H)], n_h)
    n = district.size
    Nrow = np.repeat(N_h, n_h)
    nrow = np.repeat(n_h, n_h)
    mode = np.where(rng.random(n) < 0.6, "telephone", "paper")
    rr = np.where(mode == "telephone", 0.5, 0.22)
    w = Nrow / nrow / rr * rng.uniform(0.9, 1.1, n) * 0.4
    offence = rng.choice(OFFENCES, size=n, p=[0.2, 0.2, 0.25, 0.05, 0.2, 0.1])
    eth = rng.choice(["white", "minority", None], size=n, p=[0.82, 0.15, 0.03])
    off_eff = dict(zip(OFFENCES, [0.9, 1.2, 0.6, 0.2, 0.4, 0.8]))
    eta = (
        np.vectorize(off_eff.get)(offence)
        + 0.5 * (mode == "telephone")
        - 0.3 * (eth == "minority")
        + rng.normal(0, 0.3, H)[np.repeat(np.arange(H), n_h)]
    )
    sat = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    sat[rng.random(n) < 0.05] = np.nan
    score = np.clip(np.round(4 - 1.5 * eta + rng.normal(0, 1.2, n)), 1, 7)
    score[rng.random(n) < 0.03] = np.nan
    half = np.concatenate([rng.permutation(np.arange(m) % 2 + 1) for m in n_h])
    batch = np.concatenate([np.arange(m) // 25 + 1 for m in n_h])
    df = pd.DataFrame(
        {
            "district": district,
            "N_h": Nrow,
            "w": w,
            "offence": pd.Categorical(offence, categories=list(OFFENCES)),
            "ethnic2": pd.array(eth, dtype="object"),
            "mode": mode,
            "sat": sat,
            "sat0": np.nan_to_num(sat, nan=0.0),
            "answered": (~np.isnan(sat)).astype(float),
            "score": score,
            "age": rng.integers(16, 91, n),
            "half": half,
            "batch": batch,
        }
    )
    return df
