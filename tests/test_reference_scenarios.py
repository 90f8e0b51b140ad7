"""Every committed R scenario file checked against the engine, with or without R installed.

``make r-reference`` runs ``tests/reference/make_reference.R``, which writes the figures R's
survey package gives into ``tests/reference/scenarios/<feature>.csv``: one row a figure (case,
key, est, se, lo, hi, deff, df, p) with the Python-side spec of the case beside the R call that
made it (``design``, ``call``; grammar in ``tests/reference/scenarios.R``). This runner reads
every scenario file it finds (a glob, so a new feature's file is checked as soon as it is
committed), builds the design, makes the call and compares with R at the acceptance tolerances
(estimates 1e-8 relative; SEs, CI bounds and design effects 1e-5 relative). Where R is
installed, the last test regenerates the files and checks that they are what R gives now.
"""

from __future__ import annotations

import filecmp
import subprocess
import warnings
from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from methods.design.moments import vcov
from methods.design.survey import SurveyDesign

try:
    from r_support import RSCRIPT, assert_matches, requires_r
except ImportError:  # tests/ imported as a package
    from tests.r_support import RSCRIPT, assert_matches, requires_r

REF = Path(__file__).parent / "reference"
SCEN = REF / "scenarios"
FILES = sorted(p for p in SCEN.glob("*.csv") if not p.name.startswith("data_"))
DESIGN_KEYS = {"weights", "strata", "psu", "fpc", "single_psu", "adjust_domain_lonely"}
DESIGN_KEYS |= {"ids", "nest", "ultimate_cluster"}  # multistage: ids=psu+ssu;fpc=f1+f2;nest=1


def _value(text: str):
    """A spec value: int, float, True/False, a list ``a+b`` of values, or a string."""
    if "+" in text:
        return [_value(t) for t in text.split("+")]
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


@cache
def _data(name: str) -> pd.DataFrame:
    return pd.read_csv(SCEN / f"data_{name}.csv", keep_default_na=True)


@cache
def build_design(spec: str) -> SurveyDesign:
    """A design from ``data=<name>;weights=..;strata=..;psu=..;fpc=..;replicate=jkn;mse=1``."""
    kv = dict(part.split("=", 1) for part in spec.split(";"))
    extra = {"data", "replicate", "mse", "repweights", "scale", "poststratify"}
    extra |= {"reptype", "rho", "rscales", "multipliers", "calibrate", "nonresponse"}
    unknown = {k for k in set(kv) - DESIGN_KEYS - extra if not k.startswith("cal_")}
    assert not unknown, f"unknown design keys {sorted(unknown)} in {spec!r}"
    args = {k: v for k, v in kv.items() if k in DESIGN_KEYS}
    for flag in ("adjust_domain_lonely", "nest", "ultimate_cluster"):
        if flag in args:
            args[flag] = bool(int(args[flag]))
    for stages in ("ids", "fpc"):
        if stages in args and "+" in args[stages]:
            args[stages] = args[stages].split("+")
    d = SurveyDesign(_data(kv["data"]), **args)
    if "nonresponse" in kv:  # "<indicator>:<class column>": weighting-class adjustment
        responded, _, cells = kv["nonresponse"].partition(":")
        d = d.adjust_nonresponse(responded, cells=cells)
    if "poststratify" in kv:
        col, _, cells = kv["poststratify"].partition(":")
        pop = {k: float(v) for k, v in (c.split("=") for c in cells.split(","))}
        d = d.poststratify(col, pop)
    if "repweights" in kv:
        # R's own bootstrap replicate weights through the public constructor (R svrepdesign)
        rep = _data(f"rep_{kv['repweights']}").add_prefix("rw_")
        both = pd.concat([_data(kv["data"]).reset_index(drop=True), rep], axis=1)
        mult = bool(int(kv.get("multipliers", "0")))
        if mult:  # R's replicate weights as multipliers of the full-sample weight
            both[list(rep.columns)] = rep.to_numpy() / both[[kv["weights"]]].to_numpy()
        d = SurveyDesign.from_replicates(
            both,
            weights=kv["weights"],
            repweights="^rw_",
            type=kv.get("reptype", "bootstrap"),
            scale=float(kv["scale"]) if "scale" in kv else None,
            rscales=float(kv["rscales"]) if "rscales" in kv else None,
            rho=float(kv["rho"]) if "rho" in kv else None,
            mse=bool(int(kv.get("mse", "0"))),
            combined_weights=not mult,
        )
    elif "replicate" in kv:
        d = d.replicate(kv["replicate"], mse=bool(int(kv.get("mse", "0"))))
    if "calibrate" in kv:  # after the replicates, as R's calibrate(as.svrepdesign(d), ...)
        d = _calibrated(d, kv)
    return d


def _calibrated(d: SurveyDesign, kv: dict) -> SurveyDesign:
    """``calibrate=<col>:<level>=<N>,..&<numeric col>=<total>`` with options ``cal_<arg>=``."""
    pop = {}
    for part in kv["calibrate"].split("&"):
        col, sep, cells = part.partition(":")
        if sep:
            pop[col] = {k: float(v) for k, v in (c.split("=") for c in cells.split(","))}
        else:
            col, _, total = part.partition("=")
            pop[col] = float(total)
    opts = {k[4:]: _value(v) for k, v in kv.items() if k.startswith("cal_")}
    for flag in ("bounds_const", "force"):
        if flag in opts:
            opts[flag] = bool(opts[flag])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # force=True warns that it did not converge
        return d.calibrate(pop, **opts)


def _arg(text: str):
    """A positional argument: ``a+b`` is the list of columns ``[a, b]``."""
    return text.split("+") if "+" in text else text


def _vcov_long(out: pd.DataFrame) -> pd.DataFrame:
    """The covariance matrix of an estimate as rows keyed ``row:col`` (R's column-major)."""
    V = vcov(out)
    keys = [f"{r}:{c}" for c in V.columns for r in V.index]
    return pd.DataFrame({"estimate": V.to_numpy().reshape(-1, order="F")}, index=keys)


def _long(out: pd.DataFrame) -> pd.DataFrame:
    """Domain estimates of several variables (columns ``(statistic, variable)``) as rows keyed
    ``<domain>:<variable>``, variable-major as R's ``coef(svyby(~a+b, ...))``."""
    variables = list(dict.fromkeys(out.columns.get_level_values("variable")))
    stats = list(dict.fromkeys(out.columns.get_level_values("statistic")))
    rows = [
        {"key": f"{d}:{v}", **{st: out[(st, v)].loc[d] for st in stats}}
        for v in variables
        for d in out.index
    ]
    return pd.DataFrame(rows).set_index("key").rename_axis(None)


def _contrasts(spec: str) -> dict:
    """``name=[a=1 b=-1]&name=<expression>``: linear weights in brackets, else an expression."""
    out: dict = {}
    for part in spec.split("&"):
        name, _, body = part.partition("=")
        if body.startswith("["):
            out[name] = {a: float(v) for a, v in (t.split("=") for t in body.strip("[]").split())}
        else:
            out[name] = body
    return out


def run_call(design: SurveyDesign, call: str) -> pd.DataFrame:
    """``[by=<col>|]<method>:<arg>,<arg>[;<kw>=<value>...][>>vcov]`` on ``design``; an
    argument ``a+b`` is a list of columns; ``>>vcov`` gives the covariance entries, ``>>long``
    the rows ``<domain>:<variable>`` of domain estimates of several variables."""
    call, sep, post = call.rpartition(">>") if ">>" in call else (call, "", "")
    if sep:
        inner = run_call(design, call)
        if post == "vcov":
            return _vcov_long(inner)
        if post == "long":
            return _long(inner)
        kind, _, spec = post.partition(":")
        assert kind == "contrast", f"unknown post-processing {post!r}"
        return design.contrast(inner, _contrasts(spec))
    target = design
    if "|" in call:
        domain, call = call.split("|", 1)
        key, col = domain.split("=", 1)
        assert key == "by", f"unknown prefix {domain!r}"
        target = design.by(col)
    head, *kws = call.split(";")
    method, _, args = head.partition(":")
    kwargs = {k: _value(v) for k, v in (kw.split("=", 1) for kw in kws)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return getattr(target, method)(*[_arg(a) for a in args.split(",") if a], **kwargs)


def _cases():
    for path in FILES:
        ref = pd.read_csv(path, keep_default_na=True, dtype={"key": str})
        ref["key"] = ref["key"].fillna("")
        for case, rows in ref.groupby("case", sort=False):
            yield pytest.param(path.stem, rows.set_index("key"), id=f"{path.stem}:{case}")


def test_scenario_files_exist():
    """The glob finds the committed features (a moved folder would silently test nothing)."""
    assert {p.stem for p in FILES} >= {
        "taylor_estimators",
        "replicate_designs",
        "proportions",
        "lonely_psu",
        "ciprop_methods",
        "variance_vcov",
        "design_effects",
        "contrasts",
        "quantiles",
        "bootstrap_supplied",
        "missing_values",
        "calibrated",
        "lonely_domains",
        "supplied_replicates",
        "multistage",
        "ciprop_likelihood",
        "by_many",
        "calibrated_aggregate",
        "nonresponse_multistage",
    }


def test_likelihood_interval_refused_for_replicate_designs():
    """R's svyciprop(method="likelihood") gives NA for replicate designs (checked against R in
    test_r_gives_no_likelihood_interval_for_replicate_designs): the engine says so, never a
    stand-in."""
    design = build_design("data=apistrat;weights=pw;strata=stype;fpc=fpc;replicate=jkn")
    with pytest.raises(NotImplementedError, match="replicate designs"):
        design.proportion("meals_hi", ci="likelihood")
    with pytest.raises(NotImplementedError, match="replicate designs"):
        design.by("stype").proportion("yes", ci="likelihood")


@requires_r
@pytest.mark.r
def test_r_gives_no_likelihood_interval_for_replicate_designs():
    """The reason for the refusal above: R's interval is NA on a JKn and a JK1 design."""
    script = (
        "suppressMessages(library(survey)); data(api);"
        "d <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat);"
        "c <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1);"
        "a <- attr(svyciprop(~I(meals > 50), as.svrepdesign(d), method = 'likelihood'), 'ci');"
        "b <- attr(svyciprop(~I(sch.wide == 'Yes'), as.svrepdesign(c), method = 'likelihood'),"
        " 'ci'); cat(c(a, b))"
    )
    proc = subprocess.run(
        [RSCRIPT, "--vanilla", "-e", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["NA"] * 4


@pytest.mark.parametrize(("feature", "ref"), list(_cases()))
def test_engine_matches_committed_r_figures(feature, ref):
    design, call = ref["design"].iloc[0], ref["call"].iloc[0]
    assert (ref["design"] == design).all() and (ref["call"] == call).all()
    assert_matches(run_call(build_design(design), call), ref)


@requires_r
@pytest.mark.r
def test_committed_reference_is_what_r_gives_now(tmp_path):
    """``make r-reference`` run afresh writes the same files (R's figures have not drifted)."""
    proc = subprocess.run(
        [RSCRIPT, "--vanilla", str(REF / "make_reference.R"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*.csv"))
    # sae/ is written by its own script (tests/reference/sae/make_sae_reference.R, which sources
    # R's sae package: not packaged in Debian) and checked in tests/test_smallarea*.py
    committed = sorted(
        p.relative_to(REF) for p in REF.rglob("*.csv") if p.relative_to(REF).parts[0] != "sae"
    )
    assert fresh == committed
    differ = [str(p) for p in fresh if not filecmp.cmp(tmp_path / p, REF / p, shallow=False)]
    assert not differ, f"R now gives other figures: rerun `make r-reference` ({differ})"


def test_by_many_columns_omits_a_covariance_too_large_to_build(monkeypatch):
    """The joint covariance of domain means of several columns needs an n x kK influence
    matrix: beyond DENSE_INFLUENCE_MAX values it says it is omitted, and the per-column figures
    are still R's (by_many.csv)."""
    from methods.design import survey

    design = build_design("data=apistrat;weights=pw;strata=stype;fpc=fpc")
    full = design.by("awards").mean(["api00", "enroll"])
    monkeypatch.setattr(survey, "DENSE_INFLUENCE_MAX", 10)
    small = design.by("awards").mean(["api00", "enroll"])
    assert "vcov" not in small.attrs and "200 x 4" in small.attrs["vcov_omitted"]
    pd.testing.assert_frame_equal(small, full)
    ref = pd.read_csv(SCEN / "by_many.csv", dtype={"key": str})
    r = ref[ref["case"] == "strat_by_awards_mean"].set_index("key")
    assert abs(small[("se", "enroll")]["Yes"] - r.loc["Yes:enroll", "se"]) < 1e-9
