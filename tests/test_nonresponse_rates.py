"""AAPOR outcome rates against hand-checked disposition tables (tests/fixtures/aapor/).

The expected table writes every rate as the arithmetic a reader can check by hand, e.g.
``40/(80+80/90*9)`` for RR3 = I / ((I+P) + (R+NC+O) + e(UH+UO)) with e = 80/90 (AAPOR Standard
Definitions 2023; docs/methods.md).
"""

from __future__ import annotations

import ast
import math
import operator
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from methods.core.errors import UsageError, ValidationError
from methods.nonresponse.rates import (
    AAPOR_CATEGORIES,
    NonresponseWarning,
    classify_dispositions,
    outcome_rates,
)

FIX = Path(__file__).parent / "fixtures" / "aapor"
RATES = [f"RR{i}" for i in range(1, 7)] + [f"COOP{i}" for i in range(1, 5)]
RATES += [f"REF{i}" for i in range(1, 4)] + [f"CON{i}" for i in range(1, 4)]

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}


def evaluate(expr) -> float:
    """Evaluate a fixture cell: a number, 'NaN' or + - * / ** arithmetic (nothing else)."""
    text = str(expr).strip()
    if text.lower() == "nan":
        return float("nan")

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        raise ValueError(f"unsupported expression in fixture: {text!r}")

    return ev(ast.parse(text, mode="eval"))


def _inputs() -> pd.DataFrame:
    return pd.read_csv(FIX / "dispositions.csv", dtype={"disposition": str, "group": str})


def _expected() -> pd.DataFrame:
    return pd.read_csv(FIX / "expected_rates.csv", dtype=str, keep_default_na=False)


def _scenario_frame(name: str) -> pd.DataFrame:
    inp = _inputs()
    part = inp[inp["scenario"] == name]
    return part.loc[part.index.repeat(part["count"])].reset_index(drop=True)


def _run(scenario: str, input_name: str, e_given: str, groups: list[str]):
    df = _scenario_frame(input_name)
    e = float(e_given) if e_given else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if groups == [""]:
            out = outcome_rates(df["disposition"], e=e)
        else:
            by = pd.Categorical(df["group"], categories=groups)
            out = outcome_rates(df["disposition"], by=by, e=e)
    return out, [w for w in caught if issubclass(w.category, NonresponseWarning)]


EXPECTED = _expected()


@pytest.mark.parametrize("scenario", EXPECTED["scenario"].unique().tolist())
def test_rates_equal_hand_computed_fixture(scenario):
    exp = EXPECTED[EXPECTED["scenario"] == scenario]
    first = exp.iloc[0]
    groups = exp["group"].tolist()
    out, _ = _run(scenario, first["input"], first["e_given"], groups)
    assert len(out) == len(exp)
    for (_, row), (label, got) in zip(exp.iterrows(), out.iterrows()):
        if row["group"]:
            assert label == row["group"]
        assert got["n"] == int(row["n"])
        for c in AAPOR_CATEGORIES:
            assert got[c] == int(row[c]), (scenario, row["group"], c)
        for c in ["e", *RATES]:
            want = evaluate(row[c])
            if math.isnan(want):
                assert math.isnan(got[c]), (scenario, row["group"], c, got[c])
            else:
                assert got[c] == pytest.approx(want, rel=1e-12, abs=1e-15), (scenario, c)


@pytest.mark.parametrize(
    ("scenario", "must_mention"),
    [
        ("all_unknowns", ["UH=4", "UO=6", "e (no case of known eligibility)", "RR5", "COOP1"]),
        ("zero_completes", None),
        ("basic", None),
        ("by_mode", ["'web'", "I=0", "RR1"]),
    ],
)
def test_zero_denominators_warn_with_figures(scenario, must_mention):
    exp = EXPECTED[EXPECTED["scenario"] == scenario]
    first = exp.iloc[0]
    _, warned = _run(scenario, first["input"], first["e_given"], exp["group"].tolist())
    if must_mention is None:
        assert warned == []  # every denominator positive: no warning
    else:
        assert len(warned) == 1
        msg = str(warned[0].message)
        for part in must_mention:
            assert part in msg


def test_float_codes_give_the_same_table():
    df = _scenario_frame("basic")
    as_text = outcome_rates(df["disposition"])
    as_float = outcome_rates(df["disposition"].astype(float).to_numpy())
    pd.testing.assert_frame_equal(as_text, as_float)
    # 2.20 stored as a float is 2.2: still non-contact
    assert classify_dispositions([2.20, 2.2, "2.20"]).tolist() == [3, 3, 3]


def test_column_names_with_data():
    exp = EXPECTED[EXPECTED["scenario"] == "by_mode"]
    df = _scenario_frame("by_mode")
    out = outcome_rates("disposition", by="group", data=df)
    assert out.index.name == "group"
    assert sorted(out.index) == ["paper", "telephone"]  # plain column: observed groups only
    tel = exp[exp["group"] == "telephone"].iloc[0]
    assert out.loc["telephone", "RR1"] == pytest.approx(evaluate(tel["RR1"]))


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("1.1", "I"),
        ("1.10", "I"),
        ("1.2", "P"),
        ("1.21", "P"),
        ("2.10", "R"),
        ("2.111", "R"),
        ("2.12", "R"),
        ("2.2", "NC"),
        ("2.25", "NC"),
        ("2.30", "O"),
        ("2.36", "O"),
        ("2.90", "O"),
        ("3.10", "UH"),
        ("3.19", "UH"),
        ("3.20", "UO"),
        ("3.90", "UO"),
        ("4.10", "NE"),
        ("4.70", "NE"),
        (" 1.1 ", "I"),
    ],
)
def test_mapping_by_leading_category(code, group):
    assert AAPOR_CATEGORIES[classify_dispositions([code])[0]] == group


@pytest.mark.parametrize(
    "bad", ["1.0", "1.3", "2.0", "3.0", "5.1", "x", "2", "", None, float("nan")]
)
def test_unknown_or_missing_codes_raise_naming_value_and_position(bad):
    codes = pd.Series(["1.1", "2.11", bad, "4.10"], dtype=object)
    with pytest.raises(ValidationError) as info:
        outcome_rates(codes)
    msg = str(info.value)
    assert "position 2" in msg
    assert info.value.rows == [3]  # 1-based row number
    if bad not in (None, "") and not (isinstance(bad, float) and math.isnan(bad)):
        assert repr(bad.strip()) in msg
    else:
        assert "missing" in msg


def test_bad_e_and_missing_group_refused():
    with pytest.raises(UsageError, match=r"\[0, 1\]"):
        outcome_rates(["1.1"], e=1.5)
    with pytest.raises(UsageError, match="missing"):
        outcome_rates(["1.1", "2.20"], by=pd.Series(["a", None]))


def test_empty_input_gives_one_nan_row():
    with pytest.warns(NonresponseWarning):
        out = outcome_rates(pd.Series([], dtype=str))
    assert out["n"].iloc[0] == 0
    assert out[RATES].isna().all(axis=None)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 40), min_size=8, max_size=8), st.floats(0, 1))
def test_rate_orderings_hold_for_any_counts(counts, e):
    """RR1 <= RR3 <= RR5 and RRodd <= RReven whenever defined (AAPOR 2023, section 'Response rates')."""
    codes = np.repeat(["1.1", "1.2", "2.11", "2.20", "2.30", "3.10", "3.90", "4.10"], counts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonresponseWarning)
        row = outcome_rates(codes, e=e).iloc[0]
    I, P, R, NC, O, UH, UO, NE = counts  # noqa: E741
    assert [row[c] for c in AAPOR_CATEGORIES] == counts
    d1 = I + P + R + NC + O + UH + UO
    if d1 > 0:
        assert row["RR1"] == pytest.approx(I / d1)
        assert row["RR1"] <= row["RR3"] + 1e-12 or np.isnan(row["RR3"])
        assert row["RR1"] <= row["RR2"] + 1e-12
        assert row["REF1"] <= row["CON1"] + 1e-12  # refusals are among the contacted
    if I + P + R + NC + O > 0:
        assert row["RR3"] <= row["RR5"] + 1e-12
        assert row["RR5"] <= row["RR6"] + 1e-12
        assert 0 <= row["CON3"] <= 1
