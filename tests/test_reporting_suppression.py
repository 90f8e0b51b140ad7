"""Disclosure control in the monthly report (docs/methods.md, "Disclosure control").

Hand-worked small tables for primary and secondary suppression, a property check that no
suppressed cell is ever the only suppressed cell of an additive constraint (nor derivable by
combining constraints), the marks in the charts, and one papermill run of the report with high
thresholds that must leave blanks + flags in the published CSVs and "[c]" in the notebook.
"""

from __future__ import annotations

import hashlib
import warnings

import matplotlib
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.report import monthly
from methods.report import tables as reporting
from methods.report.tables import (
    additive_constraints,
    derivable_cells,
    secondary_suppression,
    suppress_counts,
)

matplotlib.use("Agg")


def flags(out: pd.DataFrame, col: str) -> list[bool]:
    return out[f"{col}_suppressed"].tolist()


# --------------------------------------------------------------------------- hand-worked tables


def test_one_column_with_published_total():
    # 3 < 10 is suppressed; the total is published, so 3 = total - 12 - 40 - 0: the next
    # smallest non-zero cell (12) is suppressed too; the zero is shown and never chosen.
    t = pd.DataFrame({"g": list("abcd"), "n": [3, 12, 40, 0]})
    out = suppress_counts(t, ["n"], 10)
    assert flags(out, "n") == [True, True, False, False]
    assert out["n"].isna().tolist() == [True, True, False, False]
    assert out.loc[2, "n"] == 40 and out.loc[3, "n"] == 0
    assert list(out.columns) == ["g", "n", "n_suppressed"]


def test_zero_policy():
    t = pd.DataFrame({"n": [0, 3, 12, 40]})
    # zeros shown (default): 3 primary, 12 its complement
    assert flags(suppress_counts(t, ["n"], 10), "n") == [False, True, True, False]
    # zeros suppressed: 0 and 3 are both primary, two suppressions already protect each other
    assert flags(suppress_counts(t, ["n"], 10, suppress_zeros=True), "n") == [
        True,
        True,
        False,
        False,
    ]


def test_zero_is_a_complement_only_when_nothing_else_is_left():
    t = pd.DataFrame({"n": [5, 0, 0]})
    assert flags(suppress_counts(t, ["n"], 10), "n") == [True, True, False]


def test_no_constraint_means_primary_only():
    t = pd.DataFrame({"n": [3, 12, 40]})
    assert flags(suppress_counts(t, ["n"], 10, constraints=None), "n") == [True, False, False]


def test_two_way_table_with_row_and_column_totals():
    # Primaries x0 = 2 and z1 = 9. Column x: x1 = 20 (smallest other); row 0: z0 = 14;
    # column z: z0; row 1: x1. The suppressed cells form the rectangle x0, z0, x1, z1.
    t = pd.DataFrame({"x": [2, 20, 30], "y": [15, 25, 11], "z": [14, 9, 50]})
    cols = ["x", "y", "z"]
    a = np.vstack([additive_constraints(t, cols), additive_constraints(t, cols, across=True)])
    assert a.shape == (6, 9)
    out = suppress_counts(t, cols, 10, constraints=a)
    assert flags(out, "x") == [True, True, False]
    assert flags(out, "y") == [False, False, False]
    assert flags(out, "z") == [True, True, False]


def test_flow_column_with_signed_total():
    # victims in month (coefficient -1) = exclusions + eligible. 5 is primary; the smallest
    # other non-zero cell of the column, 12, is its complement; the zero stays.
    t = pd.DataFrame(
        {
            "role": ["in month", "excluded", "excluded", "excluded", "excluded", "eligible"],
            "victims": [100, 70, 5, 12, 0, 13],
        }
    )
    sign = np.where(t["role"] == "in month", -1.0, 1.0)
    a = additive_constraints(t, ["victims"], sign=sign)
    assert a.tolist() == [[-1, 1, 1, 1, 1, 1]]
    out = suppress_counts(t, ["victims"], 10, constraints=a)
    assert flags(out, "victims") == [False, False, True, True, False, False]


def test_flow_table_from_eligibility_flow():
    # Two surveys over the same 50 victims; counts by hand.
    rows = []
    for survey, excluded in [("burglary", [30, 4, 0, 6]), ("hate", [45, 2, 0, 0])]:
        remaining = 50
        rows.append((survey, 0, "start", "victims in month", 0, remaining))
        for step, (rule, x) in enumerate(zip(["scope", "opted_out", "window", "vuln"], excluded)):
            remaining -= x
            rows.append((survey, step + 1, rule, rule, x, remaining))
    flow = pd.DataFrame(
        rows, columns=["survey", "step", "rule", "label", "excluded", "remaining"]
    ).assign(month="2025-12", note="")
    out = monthly.flow_table(flow, "2025-12", min_count=10)
    b = out[out["survey"] == "burglary"]
    h = out[out["survey"] == "hate"]
    assert b["role"].tolist() == ["in month", *["excluded"] * 4, "eligible"]
    assert b["victims"].isna().tolist() == [False, False, True, False, True, False]  # 4, 6
    # hate: 2 is primary; eligible 3 is primary too: two suppressions, nothing to add
    assert h["victims_suppressed"].tolist() == [False, False, True, False, False, True]
    view = reporting.flow_view(out)
    assert view.loc["opted_out", "burglary"] == "[c]"
    assert view.loc["eligible", "burglary"] == 10
    assert view.index.name == "step" and list(view.columns) == ["burglary", "hate"]


def test_bridge_cell_found_by_the_exact_test():
    # 4 x 4 table with row and column totals. Suppressions form two 2 x 2 cycles joined by
    # the cell (1, 2): every row and column has at least two suppressed cells, yet
    # x[1,2] = R0 + R1 - C0 - C1 (minus published cells) is determined.
    t = pd.DataFrame(np.full((4, 4), 50), columns=list("abcd"))
    cols = list("abcd")
    a = np.vstack([additive_constraints(t, cols), additive_constraints(t, cols, across=True)])
    sup = np.zeros((4, 4), dtype=bool)
    sup[np.ix_([0, 1], [0, 1])] = True
    sup[np.ix_([2, 3], [2, 3])] = True
    sup[1, 2] = True
    det = derivable_cells(sup.ravel(), a).reshape(4, 4)
    assert det.sum() == 1 and det[1, 2]
    member = a != 0
    assert ((member.astype(int) @ sup.ravel()) >= 2).all()  # the "two per line" rule passes
    fixed = secondary_suppression(np.full(16, 50.0), sup.ravel(), a)
    assert not derivable_cells(fixed, a).any()
    assert fixed[sup.ravel()].all()


def test_a_cell_that_is_a_published_total_warns():
    a = np.array([[1.0, 0.0], [1.0, 1.0]])  # cell 0 is itself published
    with pytest.warns(UserWarning, match="equal a published total"):
        secondary_suppression(np.array([3.0, 40.0]), np.array([True, False]), a)


def test_bad_counts_are_refused():
    from methods.core.errors import UsageError

    with pytest.raises(UsageError, match="non-negative"):
        suppress_counts(pd.DataFrame({"n": [3, -1]}), ["n"])
    with pytest.raises(UsageError, match="no column"):
        suppress_counts(pd.DataFrame({"n": [3]}), ["m"])


def test_csv_has_blanks_and_flags(tmp_path):
    out = suppress_counts(pd.DataFrame({"g": ["a", "b", "c"], "n": [3, 12, 40]}), ["n"])
    path = reporting.write_table(out, tmp_path / "t.csv")
    assert path.read_text() == "g,n,n_suppressed\na,,True\nb,,True\nc,40,False\n"


# --------------------------------------------------------------------------- property


@st.composite
def tables(draw):
    r = draw(st.integers(2, 5))
    c = draw(st.integers(1, 4))
    cells = st.one_of(st.integers(0, 12), st.integers(0, 200))
    vals = np.array(draw(st.lists(cells, min_size=r * c, max_size=r * c))).reshape(r, c)
    # row totals need two columns at least (a one-column row total is the cell itself)
    kind = draw(st.sampled_from(["columns", "flow"] + (["rows+columns"] if c > 1 else [])))
    return vals, kind


@settings(max_examples=150, deadline=None)
@given(tables(), st.integers(2, 30), st.booleans())
def test_property_no_lone_or_derivable_suppression(case, min_count, zeros):
    vals, kind = case
    cols = [f"c{j}" for j in range(vals.shape[1])]
    t = pd.DataFrame(vals, columns=cols)
    if kind == "flow":  # first row is each column's total: parts - total = 0
        t.iloc[0] = t.iloc[1:].sum()
        a = additive_constraints(t, cols, sign=np.r_[-1.0, np.ones(len(t) - 1)])
    elif kind == "rows+columns":
        a = np.vstack([additive_constraints(t, cols), additive_constraints(t, cols, across=True)])
    else:
        a = additive_constraints(t, cols)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no constraint here is a lone published cell
        out = suppress_counts(t, cols, min_count, constraints=a, suppress_zeros=zeros)
    sup = out[[f"{c}_suppressed" for c in cols]].to_numpy().ravel()
    v = t.to_numpy().ravel()
    primary = (v < min_count) & ((v > 0) | zeros)
    assert sup[primary].all()
    per_constraint = (a != 0).astype(int) @ sup
    assert not (per_constraint == 1).any()
    assert not derivable_cells(sup, a).any()
    shown = out[cols].to_numpy(dtype=object).ravel()
    assert all(pd.isna(x) for x in shown[sup]) and (shown[~sup] == v[~sup]).all()


# --------------------------------------------------------------------------- response and domains


def test_response_counts_suppression():
    counts = pd.DataFrame(
        {
            "survey": ["asb", "burglary", "hate", "vehicle", "violent"],
            "mode": "telephone",
            "issued": [120, 30, 8, 35, 66],
            "completes": [52, 11, 4, 17, 26],
            "RR1": [0.448, 0.407, 0.5, 0.5, 0.4],
            "RR3": [0.45, 0.412, 0.5, 0.501, 0.4],
        }
    )
    out = reporting.suppress_response_counts(counts, min_count=10, min_base=34)
    # hate issued 8 -> burglary 30 complements it; hate completes 4 -> burglary 11
    assert out["issued_suppressed"].tolist() == [False, True, True, False, False]
    assert out["completes_suppressed"].tolist() == [False, True, True, False, False]
    # rates go with either count; vehicle's 35 issued is above min_base 34
    assert out["rates_suppressed"].tolist() == [False, True, True, False, False]
    assert out["RR1"].isna().tolist() == [False, True, True, False, False]
    out40 = reporting.suppress_response_counts(counts, min_count=10, min_base=40)
    assert out40["rates_suppressed"].tolist() == [False, True, True, True, False]
    assert out40.loc[3, "issued"] == 35  # the count itself is shown
    view = reporting.counts_view(out)
    assert view.loc[("hate", "telephone"), "RR1 (%)"] == "[c]"
    assert view.loc[("asb", "telephone"), "RR1 (%)"] == 44.8


def test_domain_table_suppresses_estimates_and_bases():
    from methods.design.survey import SurveyDesign

    # Districts with 5, 25, 40 and 80 valid answers; the estimate threshold is 30 and the
    # count threshold 10. Estimates: A and B (< 30); bases: A (< 10) and its complement B.
    sizes = {"A": 5, "B": 25, "C": 40, "D": 80}
    district = np.repeat(list(sizes), list(sizes.values()))
    sat = (np.arange(len(district)) % 3 != 0).astype(float)
    d = SurveyDesign(
        pd.DataFrame({"district": district, "sat_whole_experience": sat, "w": 1.0}), "w"
    )
    out = reporting.domain_table(d, "district", min_base=30, min_count=10)
    assert out["suppressed"].tolist() == [True, True, False, False]
    assert out["n_suppressed"].tolist() == [True, True, False, False]
    assert out.loc[out["suppressed"], "estimate"].isna().all()
    assert out["n"].tolist()[2:] == [40, 80]
    # one district under 30: the next smallest base is suppressed too (secondary)
    sizes2 = np.repeat(["A", "B", "C"], [20, 45, 60])
    d2 = SurveyDesign(
        pd.DataFrame({"district": sizes2, "sat_whole_experience": 1.0, "w": 1.0}), "w"
    )
    out2 = reporting.domain_table(d2, "district", min_base=30, min_count=10)
    assert out2["suppressed"].tolist() == [True, True, False]
    assert not out2["n_suppressed"].any()
    view = reporting.domain_view(out, "district")
    assert view.loc["A", "% satisfied"] == "[c]" and view.loc["A", "base (n)"] == "[c]"
    assert view.loc["D", "base (n)"] == 80


# --------------------------------------------------------------------------- charts


def _stage_table():
    t = pd.DataFrame(
        {
            "stage": ["ease_of_contact", "actions", "whole_experience"],
            "label": ["Ease of contact", "Actions taken", "Whole experience"],
            "estimate": [0.9, np.nan, 0.8],
            "se": [0.02, np.nan, 0.03],
            "ci_low": [0.85, np.nan, 0.74],
            "ci_high": [0.94, np.nan, 0.85],
            "n": [120, 12, 110],
            "suppressed": [False, True, False],
        }
    )
    return t


def _texts(fig):
    return [t.get_text() for t in fig.findobj(matplotlib.text.Text)]


def _assert_inside(fig):
    """Every visible text lies inside the figure (nothing clipped when saved)."""
    fig.canvas.draw()
    box = fig.bbox
    renderer = fig.canvas.get_renderer()
    for t in fig.findobj(matplotlib.text.Text):
        if not t.get_visible() or not t.get_text():
            continue
        e = t.get_window_extent(renderer)
        assert e.x0 >= box.x0 - 1 and e.x1 <= box.x1 + 1, t.get_text()
        assert e.y0 >= box.y0 - 1 and e.y1 <= box.y1 + 1, t.get_text()


def test_stage_chart_marks_suppression():
    import matplotlib.pyplot as plt

    t = reporting.suppress_bases(_stage_table(), 10)
    fig = reporting.plot_stage_estimates(t, title="Test", min_base=30)
    ax = fig.axes[0]
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 1
    assert hatched[0].get_width() == 100  # full-width placeholder
    assert hatched[0].get_y() + hatched[0].get_height() / 2 == 1  # the middle row
    blue = [p for p in ax.patches if not p.get_hatch()]
    assert sorted(round(p.get_width(), 6) for p in blue) == [80.0, 90.0]
    texts = _texts(fig)
    assert "suppressed (base n < 30)" in texts
    assert fig.texts[0].get_text().startswith("Hatched grey: suppressed")
    assert "90.0%  (n=120)" in texts and not any("n=12)" in x for x in texts)
    _assert_inside(fig)
    plt.close(fig)
    # nothing suppressed: no hatch and no note
    fig = reporting.plot_stage_estimates(_stage_table().iloc[[0, 2]], min_base=30)
    assert not [p for p in fig.axes[0].patches if p.get_hatch()] and not fig.texts
    plt.close(fig)


def test_trend_chart_legend_and_note():
    import matplotlib.pyplot as plt
    from matplotlib.collections import PathCollection

    t = pd.DataFrame(
        {
            "month": ["2025-10", "2025-11", "2025-12"],
            "window": 3,
            "estimate": [0.8, np.nan, 0.82],
            "ci_low": [0.7, np.nan, 0.75],
            "ci_high": [0.88, np.nan, 0.88],
            "n": [40, 20, 45],
            "suppressed": [False, True, False],
        }
    )
    fig = reporting.plot_trend({3: t}, title="Trend", min_base=30)
    ax = fig.axes[0]
    legend = [x.get_text() for x in ax.get_legend().get_texts()]
    assert "3-month: suppressed\n(base n < 30)" in legend
    circles = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(circles) == 1 and circles[0].get_facecolors().size == 0  # open circles
    assert np.allclose(circles[0].get_offsets(), [[1, 3.0]])
    assert fig.texts and fig.texts[0].get_text().startswith("Open circles at the foot")
    _assert_inside(fig)
    plt.close(fig)


def test_district_chart_draws_only_unsuppressed():
    import matplotlib.pyplot as plt

    t = pd.DataFrame(
        {
            "district": ["A", "B", "C"],
            "estimate": [np.nan, 0.81, 0.9],
            "ci_low": [np.nan, 0.75, 0.85],
            "ci_high": [np.nan, 0.86, 0.94],
            "n": pd.array([pd.NA, 60, 90], dtype="Int64"),
            "n_suppressed": [True, False, False],
            "suppressed": [True, False, False],
        }
    )
    fig = reporting.plot_domains(t, "district", title="Districts", min_base=30)
    ax = fig.axes[0]
    dots = [ln for ln in ax.lines if ln.get_marker() == "o"]
    assert len(dots) == 1
    assert sorted(dots[0].get_xdata().tolist()) == [81.0, 90.0]
    assert sorted(dots[0].get_ydata().tolist()) == [0, 1]  # A (y = 2) not drawn
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 1 and hatched[0].get_y() + hatched[0].get_height() / 2 == 2
    assert "suppressed" in _texts(fig)
    assert [t.get_text() for t in ax.get_yticklabels()] == ["A", "B", "C"]
    assert fig.texts[0].get_text().startswith("Hatched grey: suppressed")
    _assert_inside(fig)
    plt.close(fig)


# --------------------------------------------------------------------------- the report itself


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_report_with_high_thresholds_marks_suppression(demo_store, tmp_path):
    """One papermill run of the template with thresholds above most bases (read-only store)."""
    import nbformat
    import papermill as pm

    from methods.data.store import Store
    from methods.report.run import TEMPLATE_DIR

    min_base, min_count = 400, 40
    before = _sha(demo_store)
    out_nb = tmp_path / "report.ipynb"
    # A read-only connection held open by this process: a writer in the notebook would fail
    # to get DuckDB's lock, so the run also proves that the report only reads.
    with Store(demo_store, read_only=True):
        pm.execute_notebook(
            str(TEMPLATE_DIR / "monthly_report.ipynb"),
            str(out_nb),
            parameters={
                "db": str(demo_store),
                "month": "2025-12",
                "out_dir": str(tmp_path),
                "min_base": min_base,
                "min_count": min_count,
            },
            cwd=str(tmp_path),
            progress_bar=False,
            log_output=False,
        )
    assert _sha(demo_store) == before
    tab = tmp_path / "tables"

    stage = pd.read_csv(tab / "satisfaction_by_stage_month.csv")
    assert (stage["n"].fillna(0) < min_base).all()  # every base is below 400 ...
    assert stage["suppressed"].all() and stage["estimate"].isna().all()  # ... so all blank
    assert stage["ci_low"].isna().all() and stage["ci_high"].isna().all()

    rates = pd.read_csv(tab / "response_rates.csv")
    for col in ("issued", "completes"):
        flag = rates[f"{col}_suppressed"]
        assert rates.loc[flag, col].isna().all()
        shown = rates.loc[~flag, col]
        assert ((shown >= min_count) | (shown == 0)).all()
        assert flag.sum() != 1  # never a lone suppression under a published total
    assert rates["issued_suppressed"].any()
    assert rates.loc[rates["rates_suppressed"], ["RR1", "RR3"]].isna().all().all()

    flow = pd.read_csv(tab / "exclusion_flow.csv")
    assert flow["victims_suppressed"].any()
    assert flow.loc[flow["victims_suppressed"], "victims"].isna().all()
    shown = flow.loc[~flow["victims_suppressed"], "victims"]
    assert ((shown >= min_count) | (shown == 0)).all()
    assert (flow.groupby("survey")["victims_suppressed"].sum() != 1).all()

    districts = pd.read_csv(tab / "districts.csv")
    assert districts["suppressed"].all() and districts["estimate"].isna().all()
    assert districts.loc[districts["n_suppressed"], "n"].isna().all()
    assert districts["n_suppressed"].sum() != 1

    nb = nbformat.read(out_nb, as_version=4)
    shown_text = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            data = o.get("data", {})
            shown_text.append(
                o.get("text", "") + data.get("text/plain", "") + data.get("text/markdown", "")
            )
            shown_text.append(data.get("text/html", ""))
    text = "\n".join(shown_text)
    assert text.count("[c]") >= 20
    assert "[c] not shown to protect confidentiality" in text
    assert "NaN" not in text and "<NA>" not in text
    assert "Too few victims answered in" in text  # the summary says so instead of a figure
    assert len(list((tmp_path / "figures").glob("*.png"))) >= 4
