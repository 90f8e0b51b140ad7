"""Reporting: the monthly report's tables and charts.

The notebooks orchestrate; the numbers come from :mod:`methods.design`, :mod:`methods.weighting`
and :mod:`methods.monthly`; this module turns them into the tidy tables and matplotlib charts of
DATA_CONTRACT.md section 3. Running a report (papermill, HTML, PDF, manifest) lives in
:mod:`methods.report_run`, whose names are re-exported here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.report_run import (  # noqa: F401  (re-exported: notebooks call reporting.*)
    MANIFEST_PACKAGES,
    git_commit,
    notebook_to_html,
    package_versions,
    run_report,
    save_figure,
    sha256_file,
    sha256_frame,
    write_manifest,
    write_table,
)
from methods.schema import SATISFIED_CODES, STAGE_LABELS, STAGES, VALID_ANSWER_CODES

#: Default small-base thresholds (METHODS_REFERENCE.md, disclosure control).
MIN_BASE_PERCENT = 30
MIN_BASE_COUNT = 10

#: The mark shown instead of a suppressed figure in displayed tables: "[c]", confidential, the
#: symbol of the GSS guidance on symbols in tables (Analysis Function, "Symbols, figures and
#: numbers in tables").
SUPPRESSED_MARK = "[c]"


def suppressed_note(min_base: int = MIN_BASE_PERCENT, min_count: int = MIN_BASE_COUNT) -> str:
    """One sentence saying what :data:`SUPPRESSED_MARK` means, for the foot of a table."""
    return (
        f"{SUPPRESSED_MARK} = suppressed (confidential): a percentage whose unweighted base is "
        f"below {min_base}, a count below {min_count} (zeros are shown), or a figure from which "
        "a suppressed one could be worked out (secondary suppression)."
    )


# --------------------------------------------------------------------------- disclosure control


def additive_constraints(
    table: pd.DataFrame,
    columns: list[str] | tuple[str, ...],
    *,
    by: str | list[str] | None = None,
    sign: str | np.ndarray | None = None,
    across: bool = False,
) -> np.ndarray:
    """Additive constraints of a table of counts, as a coefficient matrix.

    Each constraint says that ``sum(coefficient * cell)`` over its cells is known to a reader
    (a published total, or zero when a total row is itself a cell with coefficient -1).

    Arguments:
        table: the table; its cells are ``table[columns]``, numbered row by row
            (cell ``r * len(columns) + j`` is row ``r``, column ``columns[j]``).
        columns: the count columns.
        by: one constraint per column and per group of these key columns (default: per column
            over all rows, i.e. the column totals are published).
        sign: a column of ``table`` (or an array, one value per row) with each row's
            coefficient, e.g. -1 for a total row and +1 for its parts, so that
            ``parts - total = 0``; default +1 for every row.
        across: instead, one constraint per row summing across ``columns`` (row totals);
            ``sign`` then gives one coefficient per column and ``by`` is not used.

    Returns:
        Array of shape ``(n_constraints, len(table) * len(columns))``.

    Notes:
        Vectorised: the cell of row ``r`` and column ``j`` belongs to constraint
        ``j * n_groups + group[r]``.
    """
    n, m = len(table), len(columns)
    if across:
        coef = np.ones(m) if sign is None else np.asarray(sign, dtype=float)
        out = np.zeros((n, n * m))
        out[np.repeat(np.arange(n), m), np.arange(n * m)] = np.tile(coef, n)
        return out
    if by is None:
        group, n_groups = np.zeros(n, dtype=np.int64), 1
    else:
        keys = table[by] if isinstance(by, str) else table[list(by)]
        group = (
            pd.factorize(keys)[0]
            if isinstance(by, str)
            else keys.groupby(list(by), sort=False).ngroup().to_numpy()
        )
        n_groups = int(group.max()) + 1 if n else 0
    if sign is None:
        coef = np.ones(n)
    elif isinstance(sign, str):
        coef = table[sign].to_numpy(dtype=float)
    else:
        coef = np.asarray(sign, dtype=float)
    out = np.zeros((m * n_groups, n * m))
    rows = (np.arange(m)[None, :] * n_groups + group[:, None]).ravel()
    out[rows, np.arange(n * m)] = np.repeat(coef, m)
    return out


def derivable_cells(suppressed: np.ndarray, constraints: np.ndarray, tol: float = 1e-9):
    """Which suppressed cells a reader can work out exactly from the published cells.

    Arguments:
        suppressed: boolean mask over the cells (flattened as in :func:`additive_constraints`).
        constraints: coefficient matrix ``A``; each row's ``A @ x`` is known to a reader.

    Returns:
        Boolean mask, True for suppressed cells whose value is determined.

    Notes:
        With the published cells moved to the right-hand side, the suppressed values ``x_S``
        satisfy ``A_S x_S = b``. Cell ``i`` of ``S`` is determined exactly when every solution
        agrees on it, i.e. when the null space of ``A_S`` is zero in coordinate ``i``
        (linear algebra of cell suppression: Hundepool et al. 2012, *Statistical Disclosure
        Control*, Wiley, section 4.2; exact, unlike the "two suppressions per line" rule,
        which misses cells on a bridge between two suppression cycles). Bounds from
        non-negativity (interval disclosure) are not checked.
    """
    from scipy.linalg import null_space

    suppressed = np.asarray(suppressed, dtype=bool)
    out = np.zeros(suppressed.shape, dtype=bool)
    s = np.flatnonzero(suppressed)
    if s.size == 0 or constraints.size == 0:
        return out
    a = constraints[:, s]
    a = a[np.any(a != 0, axis=1)]
    if a.shape[0] == 0:
        return out
    basis = null_space(a)  # (|S|, dim); empty columns: every suppressed cell is determined
    out[s] = np.all(np.abs(basis) <= tol, axis=1)
    return out


def secondary_suppression(
    values: np.ndarray, primary: np.ndarray, constraints: np.ndarray
) -> np.ndarray:
    """Add complementary suppressions until no suppressed cell can be derived.

    Arguments:
        values: the cells' values (used to choose complements: the smallest first).
        primary: boolean mask of the cells suppressed for their own sake.
        constraints: coefficient matrix from :func:`additive_constraints` (rows stacked for
            several kinds of constraint); an empty matrix means no constraint.

    Returns:
        Boolean mask: primary and secondary suppressions.

    Notes:
        METHODS_REFERENCE.md: suppress "any cell from which a suppressed one can be derived".
        First every constraint holding exactly one suppressed cell gets one more: its smallest
        unsuppressed non-zero cell (zeros only when nothing else is left, since a suppressed
        zero protects little; tau-ARGUS's default, Hundepool et al. 2012, section 4.2.3),
        repeated until no constraint has a lone suppression. Then the exact test of
        :func:`derivable_cells` finds cells still determined through several constraints
        together; the smallest unsuppressed cell sharing a constraint with one of them is added,
        one at a time, until none is left. Minimises neither the number nor the total of the
        suppressed cells (an optimal pattern is an integer programme); it is deterministic.
        A cell that is itself a published total (the only cell of a constraint) cannot be
        protected this way: a warning names it.
    """
    import warnings

    values = np.asarray(values, dtype=float)
    sup = np.asarray(primary, dtype=bool).copy()
    if constraints.size == 0 or not sup.any():
        return sup
    member = constraints != 0
    # Choice order: small non-zero cells first, zeros last.
    key = np.where(values > 0, values, np.inf)
    zero_key = np.nanmax(values[np.isfinite(values)], initial=0) + 1.0
    key = np.where(np.isfinite(key), key, zero_key)
    # Cells determined even if every cell were suppressed (a cell that is itself a published
    # total) cannot be protected by suppressing others: say so rather than suppress everything.
    hopeless = derivable_cells(np.ones_like(sup), constraints)
    if (hopeless & sup).any():
        warnings.warn(
            f"suppressed cells {np.flatnonzero(hopeless & sup).tolist()} equal a published "
            "total on their own, so no secondary suppression can hide them: suppress that "
            "total where it is published, or drop the constraint",
            stacklevel=2,
        )
    while True:
        count = member.astype(np.int64) @ sup
        lone = (count == 1) & ((member & ~sup).any(axis=1))
        if lone.any():
            cand = np.where(member[lone] & ~sup, key[None, :], np.inf)
            sup[np.argmin(cand, axis=1)] = True
            continue
        det = derivable_cells(sup, constraints) & ~hopeless
        if not det.any():
            return sup
        touching = member[:, det].any(axis=1)
        cand = np.where(member[touching] & ~sup, key[None, :], np.inf)
        if not np.isfinite(cand).any():
            warnings.warn(
                f"cells {np.flatnonzero(det).tolist()} stay derivable: every other cell of "
                "their constraints is already suppressed",
                stacklevel=2,
            )
            return sup
        sup[np.unravel_index(np.argmin(cand), cand.shape)[1]] = True


def suppress_counts(
    table: pd.DataFrame,
    columns: list[str] | tuple[str, ...],
    min_count: int = MIN_BASE_COUNT,
    *,
    constraints: str | np.ndarray | None = "column totals",
    suppress_zeros: bool = False,
) -> pd.DataFrame:
    """Suppress small counts and every cell from which one could be derived.

    Arguments:
        table: a table of counts.
        columns: the count columns to protect.
        min_count: counts below this (and above zero) are suppressed (primary suppression).
        constraints: the table's additive constraints: ``"column totals"`` (default: each
            column's total is published elsewhere, the cautious assumption), ``None`` (no
            additive constraint: primary suppression only), or a coefficient matrix from
            :func:`additive_constraints` (stack several with ``np.vstack``).
        suppress_zeros: also suppress zero counts.

    Returns:
        A copy with the count columns as nullable integers, suppressed cells blank (``<NA>``),
        and a boolean ``<column>_suppressed`` flag column after each count column.

    Notes:
        METHODS_REFERENCE.md, disclosure control: "Suppress an estimate whose unweighted base
        is below a configurable threshold (default 30 for percentages, 10 for counts) and any
        cell from which a suppressed one can be derived." Secondary suppression by
        :func:`secondary_suppression`. Zeros are published by default: in these tables a zero
        says that no victim was excluded by a rule or completed an interview, which identifies
        nobody; disclosure guidance treats zeros as disclosive only where they reveal that
        every member of a group shares an attribute (group disclosure; GSS, *Disclosure
        control for tables produced from administrative sources*; Hundepool et al. 2012,
        section 4.2), which does not arise in counts of cases.
    """
    from methods.errors import UsageError

    columns = list(columns)
    missing = [c for c in columns if c not in table]
    if missing:
        raise UsageError(f"suppress_counts: no column(s) {missing} in the table {list(table)}")
    vals = table[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1)).tolist()
        raise UsageError(
            f"suppress_counts: counts must be non-negative numbers; rows {rows[:10]} of "
            f"{columns} are not (fill or drop them first)"
        )
    flat = vals.ravel()
    primary = (flat < min_count) & ((flat > 0) | suppress_zeros)
    if isinstance(constraints, str):
        if constraints != "column totals":
            raise UsageError(
                f"suppress_counts: constraints={constraints!r}; use 'column totals', None or "
                "a matrix from additive_constraints"
            )
        constraints = additive_constraints(table, columns)
    elif constraints is None:
        constraints = np.zeros((0, flat.size))
    constraints = np.asarray(constraints, dtype=float)
    if constraints.shape[1:] != (flat.size,):
        raise UsageError(
            f"suppress_counts: the constraint matrix has {constraints.shape[1:]} columns; the "
            f"table has {flat.size} cells ({len(table)} rows x {len(columns)} columns)"
        )
    sup = secondary_suppression(flat, primary, constraints).reshape(vals.shape)
    out = table.copy()
    for j, c in enumerate(columns):
        out[c] = pd.array(np.rint(vals[:, j]).astype(np.int64), dtype="Int64")
        out.loc[sup[:, j], c] = pd.NA
        pos = out.columns.get_loc(c) + 1
        flag = f"{c}_suppressed"
        if flag in out:
            out = out.drop(columns=flag)
        out.insert(pos, flag, sup[:, j])
    return out


def mark_suppressed(
    table: pd.DataFrame, marks: dict[str, str], mark: str = SUPPRESSED_MARK
) -> pd.DataFrame:
    """A display copy of ``table`` with suppressed cells shown as ``mark`` ("[c]").

    Arguments:
        table: the table (suppressed cells blank).
        marks: column -> boolean flag column saying where that column is suppressed; the flag
            columns are dropped from the copy.

    Returns:
        A copy in which each marked column is of object dtype holding its values, or ``mark``.
    """
    out = table.copy()
    for col, flag in marks.items():
        if col in out and flag in table:
            f = table[flag].fillna(False).to_numpy(dtype=bool)
            out[col] = out[col].astype(object).where(~f, mark)
    return out.drop(columns=[f for f in set(marks.values()) if f in out])


def satisfied(answers: pd.Series | np.ndarray) -> np.ndarray:
    """Satisfied indicator from stage answers on the 1-8 scale.

    Returns 1.0 for answers 1-3 (completely, very or fairly satisfied), 0.0 for 4-7, and NaN
    for 8 (don't know / not applicable) and blanks, which are excluded from the base
    (DATA_CONTRACT.md section 2; Home Office User Satisfaction Survey definition).
    """
    a = pd.to_numeric(pd.Series(answers), errors="coerce").to_numpy(dtype=float)
    out = np.full(a.shape, np.nan)
    valid = np.isin(a, VALID_ANSWER_CODES)
    out[valid] = np.isin(a[valid], SATISFIED_CODES).astype(float)
    return out


def completes(responses: pd.DataFrame) -> pd.DataFrame:
    """Rows with an AAPOR 1.x disposition (complete or partial interview)."""
    disp = responses["disposition"].astype(str)
    return responses.loc[disp.str.startswith("1.")].copy()


def months_back(month: str, k: int) -> list[str]:
    """The ``k`` months ending with ``month`` (``YYYY-MM``), oldest first."""
    end = pd.Period(month, freq="M")
    return [str(end - i) for i in range(k - 1, -1, -1)]


def prepare_responses(responses: pd.DataFrame) -> pd.DataFrame:
    """Add the design weight (1 / inclusion probability) and a design stratum per case.

    The design stratum is month x survey x sampling stratum: each survey draws its own
    stratified sample every month, so these are the strata of the pooled design.
    """
    out = responses.copy()
    out["design_weight"] = 1.0 / out["inclusion_prob"].astype(float)
    stratum = out["stratum"].astype(str) if "stratum" in out else ""
    out["design_stratum"] = (
        out["month"].astype(str) + "|" + out["survey"].astype(str) + "|" + stratum
    )
    return out


def response_counts(responses: pd.DataFrame) -> pd.DataFrame:
    """Issued cases, completes and AAPOR RR1 / RR3 by survey and mode (tidy).

    Rates from :func:`methods.nonresponse.outcome_rates` (AAPOR Standard Definitions).
    """
    from methods.nonresponse import outcome_rates

    rows = []
    for (survey, mode), sub in responses.groupby(["survey", "mode"], sort=True):
        r = outcome_rates(sub["disposition"].astype(str).to_numpy()).iloc[0]
        rows.append(
            {
                "survey": survey,
                "mode": mode,
                "issued": len(sub),
                "completes": int(r["I"]),
                "RR1": float(r["RR1"]),
                "RR3": float(r["RR3"]),
            }
        )
    return pd.DataFrame(rows, columns=["survey", "mode", "issued", "completes", "RR1", "RR3"])


def suppress_bases(
    table: pd.DataFrame,
    min_count: int = MIN_BASE_COUNT,
    columns: tuple[str, ...] = ("n",),
    by: str | None = None,
) -> pd.DataFrame:
    """Suppress small unweighted bases (counts) in an estimates table.

    Arguments:
        table: e.g. a stage table (:func:`stage_estimates`), a trend or ethnic-gap table.
        min_count: bases below this (and above zero) are suppressed.
        columns: the base columns.
        by: when given, the bases of the rows of each group (e.g. each ``stage`` across
            surveys) are taken to add up to a published total, so a lone suppressed base in a
            group gets a complementary suppression; without it, primary suppression only (the
            bases of one stage table are the same respondents answering different questions,
            and do not add up to anything).

    Returns:
        :func:`suppress_counts` output: bases as nullable integers, blank where suppressed,
        with ``<column>_suppressed`` flags.
    """
    if table.empty:
        return table.copy()
    if by is None:
        return suppress_counts(table, columns, min_count, constraints=None)
    a = additive_constraints(table, columns, by=by)
    a = a[(a != 0).sum(axis=1) > 1]  # a one-row group's total is the cell itself
    return suppress_counts(table, columns, min_count, constraints=a)


def suppress_response_counts(
    counts: pd.DataFrame,
    min_count: int = MIN_BASE_COUNT,
    min_base: int = MIN_BASE_PERCENT,
) -> pd.DataFrame:
    """The response table (:func:`response_counts`) as published: small counts suppressed.

    Arguments:
        counts: ``survey, mode, issued, completes, RR1, RR3``.
        min_count: issued cases or completes below this are suppressed.
        min_base: response rates on fewer issued cases are suppressed (they are percentages).

    Returns:
        The table with ``issued`` and ``completes`` blank where suppressed (and flags
        ``issued_suppressed``, ``completes_suppressed``), and RR1 / RR3 blank, flagged by
        ``rates_suppressed``, wherever either count is suppressed or the base is too small.

    Notes:
        METHODS_REFERENCE.md disclosure control. The report's summary publishes the month's
        total issued cases and completes, so each column's rows add up to a published total:
        a lone suppressed count in a column gets a complement (:func:`suppress_counts`).
        A rate is suppressed with either of its counts, because rate x issued (or completes /
        rate) would give the suppressed count back.
    """
    out = suppress_counts(counts, ["issued", "completes"], min_count)
    rates = (
        out["issued_suppressed"].to_numpy()
        | out["completes_suppressed"].to_numpy()
        | (counts["issued"].to_numpy() < min_base)
    )
    out.loc[rates, ["RR1", "RR3"]] = np.nan
    out["rates_suppressed"] = rates
    return out


def counts_view(counts: pd.DataFrame) -> pd.DataFrame:
    """Display copy of :func:`suppress_response_counts`: rates in %, "[c]" marks, indexed by
    survey and mode."""
    view = counts.assign(RR1=(100 * counts["RR1"]).round(1), RR3=(100 * counts["RR3"]).round(1))
    view = mark_suppressed(
        view,
        {
            "issued": "issued_suppressed",
            "completes": "completes_suppressed",
            "RR1": "rates_suppressed",
            "RR3": "rates_suppressed",
        },
    )
    return view.rename(columns={"RR1": "RR1 (%)", "RR3": "RR3 (%)"}).set_index(["survey", "mode"])


def flow_view(table: pd.DataFrame) -> pd.DataFrame:
    """Display copy of a tidy exclusion flow (:func:`methods.monthly.flow_table`): one row per
    step (in the order first applied), one column per survey, "[c]" for suppressed counts and
    "-" where a survey has no such rule."""
    shown = mark_suppressed(table, {"victims": "victims_suppressed"})
    order = list(dict.fromkeys(table.sort_values("step", kind="stable")["label"]))
    surveys = list(dict.fromkeys(table["survey"]))
    wide = shown.pivot(index="label", columns="survey", values="victims")
    wide = wide.reindex(index=order, columns=surveys).fillna("-")
    wide.index.name = "step"
    wide.columns.name = None
    return wide


def percent_view(table: pd.DataFrame) -> pd.DataFrame:
    """A display copy of a stage table: percentages to one decimal, suppressed cells "[c]",
    indexed by period, survey and stage (whichever the table has)."""
    view = table.copy()
    for c in ("estimate", "ci_low", "ci_high"):
        view[c] = (100 * view[c]).round(1)
    marks = {c: "suppressed" for c in ("estimate", "ci_low", "ci_high")}
    if "n_suppressed" in view:
        marks["n"] = "n_suppressed"
    view = mark_suppressed(view, marks).drop(columns="stage", errors="ignore")
    view = view.rename(
        columns={
            "estimate": "% satisfied",
            "ci_low": "95% CI low",
            "ci_high": "95% CI high",
            "n": "base (n)",
            "label": "stage",
        }
    )
    keys = [c for c in ("period", "survey", "stage") if c in view]
    keep = [c for c in ("% satisfied", "95% CI low", "95% CI high", "base (n)") if c in view]
    return view.set_index(keys)[keep] if keys else view[keep]


def stage_estimates(
    responses: pd.DataFrame,
    weights: str = "design_weight",
    strata: str | None = "design_stratum",
    stages: tuple[str, ...] = STAGES,
    ci: str = "logit",
    min_base: int = MIN_BASE_PERCENT,
) -> pd.DataFrame:
    """Weighted satisfied proportion, 95% CI and unweighted base for each stage.

    Arguments:
        responses: completed interviews with the stage answers and a weight column.
        weights: weight column; strata: stratum column (or None).
        ci: proportion CI method passed to :meth:`SurveyDesign.proportion`.
        min_base: estimates on fewer valid answers are suppressed (NaN) and flagged.

    Returns:
        One row per stage: ``stage, label, estimate, se, ci_low, ci_high, n, suppressed``.
    """
    from methods.design import SurveyDesign

    data = responses.copy()
    rows = []
    for stage in stages:
        col = f"sat_{stage}"
        data[col] = satisfied(data[stage]) if stage in data else np.nan
    design = SurveyDesign(data, weights=weights, strata=strata)
    for stage in stages:
        col = f"sat_{stage}"
        n = int(np.isfinite(data[col]).sum())
        row = {"stage": stage, "label": STAGE_LABELS[stage], "n": n}
        if n >= max(min_base, 2):
            est = design.proportion(col, ci=ci).iloc[0]
            row.update({k: float(est[k]) for k in ("estimate", "se", "ci_low", "ci_high")})
            row["suppressed"] = False
        else:
            row.update({k: np.nan for k in ("estimate", "se", "ci_low", "ci_high")})
            row["suppressed"] = True
        rows.append(row)
    cols = ["stage", "label", "estimate", "se", "ci_low", "ci_high", "n", "suppressed"]
    return pd.DataFrame(rows)[cols]


#: Print-readable chart text sizes (points) and the hatched placeholder of a suppressed figure.
FONT = {"label": 10, "tick": 10, "title": 11, "note": 9}
SUPPRESSED_STYLE = {"facecolor": "#e6e6e6", "edgecolor": "#7f7f7f", "hatch": "///", "lw": 0.8}


def _figure_note(fig, text: str) -> None:
    """Write ``text`` under the axes, inside the figure (space reserved by tight_layout)."""
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=FONT["note"], wrap=True)


def _finish(fig, note: str | None) -> None:
    """Lay the figure out so no label is clipped, leaving a strip at the foot for the note."""
    if note:
        lines = 1 + len(note) // 110
        height = fig.get_size_inches()[1]
        fig.tight_layout(rect=(0, (0.2 * lines + 0.1) / height, 1, 1))
        _figure_note(fig, note)
    else:
        fig.tight_layout()


def plot_stage_estimates(
    table: pd.DataFrame, title: str = "", ax=None, min_base: int = MIN_BASE_PERCENT
):
    """Horizontal bars of percent satisfied per stage with 95% CI whiskers.

    Arguments:
        table: a stage table (:func:`stage_estimates`); ``n_suppressed`` is honoured if present.
        title: chart title; ax: axes to draw on (default: a new figure).
        min_base: the percentage threshold, named in the marks.

    Returns:
        The figure. A suppressed stage is drawn as a light grey hatched placeholder across the
        whole scale, labelled "suppressed (base n < min_base)", and a note at the foot of the
        figure says what the hatching means (METHODS_REFERENCE.md, disclosure control).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(table) + 1.6), dpi=100)
    else:
        fig = ax.figure
    y = np.arange(len(table))[::-1]
    est = table["estimate"].to_numpy(dtype=float) * 100
    lo = table["ci_low"].to_numpy(dtype=float) * 100
    hi = table["ci_high"].to_numpy(dtype=float) * 100
    sup = table["suppressed"].to_numpy(dtype=bool) | ~np.isfinite(est)
    ok = ~sup
    ax.barh(y[ok], est[ok], color="#4c72b0", height=0.6)
    ax.errorbar(
        est[ok],
        y[ok],
        xerr=[est[ok] - lo[ok], hi[ok] - est[ok]],
        fmt="none",
        color="black",
        capsize=3,
        lw=1,
    )
    if sup.any():
        ax.barh(y[sup], 100, height=0.6, label="suppressed", **SUPPRESSED_STYLE)
    n_hidden = (
        table["n_suppressed"].to_numpy(dtype=bool)
        if "n_suppressed" in table
        else np.zeros(len(table), dtype=bool)
    )
    for yi, e, h, n, s, nh in zip(y, est, hi, table["n"], sup, n_hidden):
        if s:
            ax.text(
                2,
                yi,
                f"suppressed (base n < {min_base})",
                va="center",
                fontsize=FONT["note"],
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
        else:
            base = SUPPRESSED_MARK if nh else f"{int(n)}"
            x = min(max(e, h if np.isfinite(h) else e) + 1.5, 101)
            ax.text(x, yi, f"{e:.1f}%  (n={base})", va="center", fontsize=FONT["note"])
    ax.set_yticks(y, table["label"], fontsize=FONT["tick"])
    ax.tick_params(axis="x", labelsize=FONT["tick"])
    ax.set_xlim(0, 125)
    ax.set_xticks(np.arange(0, 101, 20))
    ax.set_xlabel("% satisfied (95% CI)", fontsize=FONT["label"])
    if title:
        ax.set_title(title, fontsize=FONT["title"], loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    note = (
        f"Hatched grey: suppressed, unweighted base below {min_base} (disclosure control)."
        if sup.any()
        else None
    )
    _finish(fig, note)
    return fig


# --------------------------------------------------------------------------- monthly report


def add_satisfied(df: pd.DataFrame, stages: tuple[str, ...] = STAGES) -> pd.DataFrame:
    """Copy of ``df`` with ``sat_<stage>`` indicators (1 / 0 / NaN) for each stage answer."""
    out = df.copy()
    for stage in stages:
        out[f"sat_{stage}"] = satisfied(out[stage]) if stage in out else np.nan
    return out


def weighted_period(sampled: pd.DataFrame, eligible: pd.DataFrame, min_cell: int = 5):
    """Weight a period's sample with the report's scheme (:func:`methods.monthly.weight_responses`)
    and add the satisfied indicators; returns the :class:`~methods.monthly.WeightedSurvey`."""
    from methods.monthly import weight_responses

    res = weight_responses(add_satisfied(sampled), eligible, min_cell=min_cell)
    return res


def trend_table(
    sampled: pd.DataFrame,
    months: list[str],
    window: int,
    stage: str = "whole_experience",
    min_base: int = MIN_BASE_PERCENT,
) -> pd.DataFrame:
    """Rolling ``window``-month design-weighted estimates of one stage, one row per end month.

    Each row pools the completes of the ``window`` months ending at that month (months not
    loaded are simply absent) and estimates the satisfied proportion with a logit 95% CI;
    bases under ``min_base`` are suppressed.
    """
    done = completes(sampled)
    rows = []
    for m in months:
        span = months_back(m, window)
        sub = done[done["month"].isin(span)]
        if sub.empty:
            continue
        t = stage_estimates(sub, stages=(stage,), min_base=min_base)
        t.insert(0, "window", window)
        t.insert(0, "month", m)
        rows.append(t)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def plot_trend(
    trends: dict[int, pd.DataFrame], title: str = "", ax=None, min_base=MIN_BASE_PERCENT
):
    """Lines of percent satisfied by month with shaded 95% CI bands, one per rolling window.

    Suppressed months (base below ``min_base``) are left as gaps and marked with an open
    circle at the foot of the chart; the legend names them and a note at the foot of the figure
    says what they mean (METHODS_REFERENCE.md, disclosure control).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 4.6), dpi=100)
    else:
        fig = ax.figure
    colours = ["#4c72b0", "#dd8452", "#55a868"]
    any_sup = False
    for k, ((window, t), colour) in enumerate(zip(sorted(trends.items()), colours)):
        if t.empty:
            continue
        x = np.arange(len(t))
        est = 100 * t["estimate"].to_numpy(dtype=float)
        ax.plot(x, est, marker="o", color=colour, label=f"{window}-month rolling")
        ax.fill_between(
            x,
            100 * t["ci_low"].to_numpy(dtype=float),
            100 * t["ci_high"].to_numpy(dtype=float),
            color=colour,
            alpha=0.2,
        )
        sup = t["suppressed"].to_numpy(dtype=bool)
        if sup.any():
            any_sup = True
            ax.scatter(
                x[sup],
                np.full(sup.sum(), 3.0 + 4.0 * k),  # one row of circles per window
                marker="o",
                s=40,
                facecolors="none",
                edgecolors=colour,
                label=f"{window}-month: suppressed\n(base n < {min_base})",
            )
        ax.set_xticks(x, t["month"], rotation=45, ha="right", fontsize=FONT["tick"])
    ax.set_ylim(0, 100)
    ax.tick_params(axis="y", labelsize=FONT["tick"])
    ax.set_ylabel("% satisfied (95% CI)", fontsize=FONT["label"])
    if title:
        ax.set_title(title, fontsize=FONT["title"], loc="left")
    # Outside the axes, so that it never hides a line or a suppression mark.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT["note"], frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    note = (
        f"Open circles at the foot: month suppressed, unweighted base below {min_base} "
        "(disclosure control); the line has a gap there."
        if any_sup
        else None
    )
    _finish(fig, note)
    return fig


def plot_domains(
    table: pd.DataFrame,
    by: str,
    title: str = "",
    ax=None,
    min_base: int = MIN_BASE_PERCENT,
):
    """Dot and 95% CI whisker of percent satisfied for each level of ``by`` (e.g. district).

    Arguments:
        table: a :func:`domain_table` (``estimate, ci_low, ci_high, n, suppressed``).
        by: the domain column; title, ax: as in :func:`plot_stage_estimates`.
        min_base: the percentage threshold, named in the note.

    Returns:
        The figure. Suppressed levels are not drawn: their row holds a hatched placeholder
        marked "suppressed", and a note at the foot says why (base below ``min_base``, or
        secondary suppression so that a suppressed figure cannot be worked out).
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(table) + 1.7), dpi=100)
    else:
        fig = ax.figure
    y = np.arange(len(table))[::-1]
    est = 100 * table["estimate"].to_numpy(dtype=float)
    lo = 100 * table["ci_low"].to_numpy(dtype=float)
    hi = 100 * table["ci_high"].to_numpy(dtype=float)
    sup = table["suppressed"].to_numpy(dtype=bool) | ~np.isfinite(est)
    ok = ~sup
    ax.errorbar(
        est[ok],
        y[ok],
        xerr=[est[ok] - lo[ok], hi[ok] - est[ok]],
        fmt="o",
        color="#4c72b0",
        ecolor="black",
        capsize=3,
        lw=1,
        ms=6,
    )
    if sup.any():
        ax.barh(y[sup], 100, height=0.5, **SUPPRESSED_STYLE)
        for yi in y[sup]:
            ax.text(
                2,
                yi,
                "suppressed",
                va="center",
                fontsize=FONT["note"],
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
    ax.set_yticks(y, table[by].astype(str), fontsize=FONT["tick"])
    ax.tick_params(axis="x", labelsize=FONT["tick"])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% satisfied (95% CI)", fontsize=FONT["label"])
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    if title:
        ax.set_title(title, fontsize=FONT["title"], loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    note = (
        f"Hatched grey: suppressed, unweighted base below {min_base}, or suppressed so that "
        "another suppressed figure cannot be worked out (disclosure control)."
        if sup.any()
        else None
    )
    _finish(fig, note)
    return fig


def change_table(
    current: pd.DataFrame, previous: pd.DataFrame, label: str, alpha: float = 0.05
) -> pd.DataFrame:
    """Change in each stage between two independently surveyed periods.

    ``current`` and ``previous`` are stage tables (:func:`stage_estimates`); the difference,
    its CI and p-value come from :func:`methods.design.compare_independent` (independent
    samples: se = sqrt(se_a^2 + se_b^2)). ``significant`` is True only where p < ``alpha``;
    suppressed estimates give no comparison.
    """
    from methods.design import compare_independent

    a = current.set_index("stage")
    b = previous.set_index("stage")
    ok = ~(a["suppressed"] | b["suppressed"]) & a["estimate"].notna() & b["estimate"].notna()
    stages = [s for s in a.index if s in b.index and ok.get(s, False)]
    rows = []
    if stages:
        diff = compare_independent(
            a.loc[stages, ["estimate", "se"]], b.loc[stages, ["estimate", "se"]]
        )
        for s in stages:
            d = diff.loc[s]
            rows.append(
                {
                    "comparison": label,
                    "stage": s,
                    "label": STAGE_LABELS[s],
                    "now": float(a.loc[s, "estimate"]),
                    "then": float(b.loc[s, "estimate"]),
                    "change": float(d["estimate"]),
                    "ci_low": float(d["ci_low"]),
                    "ci_high": float(d["ci_high"]),
                    "p_value": float(d["p_value"]),
                    "significant": bool(d["p_value"] < alpha),
                }
            )
    cols = [
        "comparison",
        "stage",
        "label",
        "now",
        "then",
        "change",
        "ci_low",
        "ci_high",
        "p_value",
        "significant",
    ]
    return pd.DataFrame(rows, columns=cols)


def ethnic_gap(design, stage: str = "whole_experience", min_base: int = MIN_BASE_PERCENT):
    """Gap between White and minority-ethnic victims' satisfaction with its 95% CI.

    The former statutory indicator (Northumbria: 4.0 points). Both groups come from one
    sample, so the SE uses their joint influence (:meth:`SurveyDesign.compare`). Suppressed
    (NaN) when either group has fewer than ``min_base`` valid answers.
    """
    data = design.data
    col = f"sat_{stage}"
    valid = np.isfinite(data[col].to_numpy(dtype=float))
    n_w = int((valid & (data["ethnic_group"] == "white").to_numpy()).sum())
    n_m = int((valid & (data["ethnic_group"] == "minority ethnic").to_numpy()).sum())
    row = {"stage": stage, "n_white": n_w, "n_minority": n_m}
    if min(n_w, n_m) < min_base:
        row.update(
            dict.fromkeys(("white", "minority", "gap", "ci_low", "ci_high", "p_value"), np.nan)
        )
        row["suppressed"] = True
    else:
        c = design.compare(col, by="ethnic_group", a="white", b="minority ethnic").iloc[0]
        row.update(
            {
                "white": float(c["estimate_a"]),
                "minority": float(c["estimate_b"]),
                "gap": float(c["estimate"]),
                "ci_low": float(c["ci_low"]),
                "ci_high": float(c["ci_high"]),
                "p_value": float(c["p_value"]),
                "suppressed": False,
            }
        )
    return pd.DataFrame([row])


def _p_text(p: float) -> str:
    """A p-value for display: three decimals, "<0.001" below that, blank when missing."""
    if not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def changes_view(changes: pd.DataFrame) -> pd.DataFrame:
    """Display copy of a :func:`change_table`: points to one decimal, p as text (3 decimals), indexed by
    comparison and stage."""
    pts = ["now", "then", "change", "ci_low", "ci_high"]
    view = changes.assign(
        **{c: (100 * changes[c]).round(1) for c in pts}, p_value=changes["p_value"].map(_p_text)
    )
    view = view.drop(columns="stage").rename(
        columns={"label": "stage", "ci_low": "95% CI low", "ci_high": "95% CI high"}
    )
    return view.set_index(["comparison", "stage"])


def gap_view(gap: pd.DataFrame) -> pd.DataFrame:
    """Display copy of an :func:`ethnic_gap` table: points to one decimal, "[c]" marks for
    suppressed estimates and bases (``n_white_suppressed`` etc. from :func:`suppress_bases`),
    indexed by stage."""
    pts = ["white", "minority", "gap", "ci_low", "ci_high"]
    view = gap.assign(
        **{c: (100 * gap[c]).round(1) for c in pts}, p_value=gap["p_value"].map(_p_text)
    )
    marks = {c: "suppressed" for c in [*pts, "p_value"]}
    marks.update({c: f"{c}_suppressed" for c in ("n_white", "n_minority")})
    view = mark_suppressed(view, marks)
    view = view.rename(columns={"ci_low": "95% CI low", "ci_high": "95% CI high"})
    view["stage"] = view["stage"].map(STAGE_LABELS).fillna(view["stage"])
    return view.set_index("stage")


def domain_table(
    design,
    by: str,
    stage: str = "whole_experience",
    min_base: int = MIN_BASE_PERCENT,
    min_count: int = MIN_BASE_COUNT,
) -> pd.DataFrame:
    """Percent satisfied at ``stage`` for each level of ``by`` (e.g. district), with bases.

    Arguments:
        design: a weighted :class:`~methods.design.SurveyDesign` with ``sat_<stage>``.
        by: the domain column; stage: the stage.
        min_base: estimates on fewer valid answers are suppressed.
        min_count: bases (counts) below this, and above zero, are suppressed.

    Returns:
        ``<by>, estimate, ci_low, ci_high, n, n_suppressed, suppressed``: ``suppressed`` flags
        the estimate (and its CI), ``n_suppressed`` the base; suppressed values are blank.

    Notes:
        Domain estimation keeps the whole design (:meth:`SurveyDesign.by`). Estimates: levels
        under ``min_base`` are suppressed, and when exactly one is, the level with the next
        smallest base too, so that it cannot be worked out from the overall figure
        (secondary suppression, METHODS_REFERENCE.md). Bases: the levels' bases add up to the
        overall base, which the report publishes, so :func:`suppress_counts` adds a
        complement to a lone small base.
    """
    import warnings

    col = f"sat_{stage}"
    data = design.data
    valid = np.isfinite(data[col].to_numpy(dtype=float))
    n = pd.Series(valid.astype(int)).groupby(data[by].to_numpy()).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny domains: suppressed below anyway
        est = design.by(by).proportion(col)
    est = est.reindex(n.index)
    out = pd.DataFrame(
        {
            by: n.index,
            "estimate": est["estimate"].to_numpy(),
            "ci_low": est["ci_low"].to_numpy(),
            "ci_high": est["ci_high"].to_numpy(),
            "n": n.to_numpy(),
        }
    )
    nn = out["n"].to_numpy(dtype=float)
    one = np.ones((1, len(out))) if len(out) > 1 else np.zeros((0, len(out)))
    small = nn < max(min_base, 2)
    # An empty level has no estimate to derive: it needs no complement of its own.
    out["suppressed"] = secondary_suppression(nn, small & (nn > 0), one) | small
    out.loc[out["suppressed"], ["estimate", "ci_low", "ci_high"]] = np.nan
    return suppress_counts(out, ["n"], min_count)


def domain_view(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Display copy of a :func:`domain_table`: percentages to one decimal, "[c]" marks,
    indexed by the domain."""
    view = table.copy()
    for c in ("estimate", "ci_low", "ci_high"):
        view[c] = (100 * view[c]).round(1)
    view = mark_suppressed(
        view,
        {
            "estimate": "suppressed",
            "ci_low": "suppressed",
            "ci_high": "suppressed",
            "n": "n_suppressed",
        },
    )
    view = view.rename(
        columns={
            "estimate": "% satisfied",
            "ci_low": "95% CI low",
            "ci_high": "95% CI high",
            "n": "base (n)",
        }
    )
    return view.set_index(by)


def month_summary(
    force_title: str,
    month: str,
    stages: pd.DataFrame,
    changes: pd.DataFrame,
    gap: pd.DataFrame,
    counts: pd.DataFrame,
    min_count: int = MIN_BASE_COUNT,
) -> str:
    """A short plain-English summary of the month, generated from the figures only.

    ``counts`` is the unsuppressed response table (:func:`response_counts`): its totals are
    published here, unless a total is itself below ``min_count`` ("fewer than ...").
    Suppressed estimates and bases are not quoted.
    """
    lines = []
    issued = int(counts["issued"].sum())
    done = int(counts["completes"].sum())
    if issued < min_count or 0 < done < min_count:
        lines.append(
            f"In {month}, {force_title} surveyed "
            + (f"{issued:,}" if issued >= min_count else f"fewer than {min_count}")
            + " victims, and "
            + (f"{done:,}" if done >= min_count or done == 0 else f"fewer than {min_count}")
            + " completed an interview."
        )
    else:
        lines.append(
            f"In {month}, {force_title} surveyed {issued:,} victims and {done:,} "
            f"completed an interview ({100 * done / max(issued, 1):.0f}%)."
        )
    we = stages.set_index("stage").loc["whole_experience"]
    if not we["suppressed"]:
        hidden = bool(we.get("n_suppressed", False)) or pd.isna(we["n"])
        base = "" if hidden else f", base {int(we['n'])}"
        lines.append(
            f"Taking the whole experience into account, {100 * we['estimate']:.0f}% of "
            f"victims were satisfied (95% CI {100 * we['ci_low']:.0f}% to "
            f"{100 * we['ci_high']:.0f}%{base})."
        )
    else:
        lines.append(
            "Whole-experience satisfaction for the month is not reported: too few answers."
        )
    ok = stages[~stages["suppressed"]]
    if len(ok):
        hi = ok.loc[ok["estimate"].idxmax()]
        lo = ok.loc[ok["estimate"].idxmin()]
        lines.append(
            f"Satisfaction was highest with {hi['label'].lower()} "
            f"({100 * hi['estimate']:.0f}%) and lowest with {lo['label'].lower()} "
            f"({100 * lo['estimate']:.0f}%)."
        )
    sig = changes[changes["significant"]] if len(changes) else changes
    if len(sig):
        parts = [
            f"{r.label.lower()} {'up' if r.change > 0 else 'down'} "
            f"{abs(100 * r.change):.1f} points ({r.comparison})"
            for r in sig.itertuples()
        ]
        lines.append("Statistically significant changes: " + "; ".join(parts) + ".")
    else:
        lines.append(
            "No change against the previous period or the same period last year is "
            "statistically significant."
        )
    g = gap.iloc[0]
    if not g["suppressed"]:
        verdict = "significant" if g["p_value"] < 0.05 else "not statistically significant"
        lines.append(
            f"The gap between White and minority-ethnic victims' whole-experience "
            f"satisfaction was {100 * g['gap']:.1f} points ({verdict})."
        )
    else:
        lines.append(
            "The gap between White and minority-ethnic victims is not reported this "
            "period: too few respondents in one of the groups."
        )
    return " ".join(lines)
