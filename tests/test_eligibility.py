"""Eligibility: exclusion rules in order, the CONSORT flow table, after-selection exclusions.

The scenario below is a methodology fixture a reviewer can read: one row per victim, the rule
that must exclude it written beside it by hand, and the flow counts derived from that column.
The synthetic cross-check compares against an independent implementation
(:func:`methods.synthetic.generate.simple_eligibility`) on every preset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io

import numpy as np
import pandas as pd
import pytest

from methods.config.presets import load_force, load_survey
from methods.core.errors import UsageError, ValidationError
from methods.frame.eligibility import FLOW_COLUMNS, apply, plot_flow, synthetic_rule
from methods.synthetic.generate import generate_victims, simple_eligibility

# Burglary survey (configs/surveys/burglary.toml): opted_out, under_min_age (16), vulnerable,
# no_further_action_requested, uncooperative, sensitive, police_victim, outside_contact_window
# (6-12 weeks), resurveyed_within_months (12); the register is added force-wide (enforced).
# Reference date 2025-05-25: a report on 2025-03-01 has its window closed on 2025-05-24 (< ref),
# one on 2025-03-02 on 2025-05-25 (not before the reference date: still contactable).
SCENARIO = """\
case,person_id,month,offence_group,reported_date,age,opted_out,vulnerable,no_further_action_requested,uncooperative,sensitive,police_victim,expected
c01,p01,2025-03,burglary,2025-03-03,40,0,0,0,0,0,0,eligible
c02,p02,2025-03,violent,2025-03-04,30,0,0,0,0,0,0,out_of_scope
c03,p03,2025-03,burglary,2025-03-05,50,1,1,0,0,0,0,opted_out
c04,p04,2025-03,burglary,2025-03-06,15,0,0,0,0,0,0,under_min_age
c05,p05,2025-03,burglary,2025-03-07,,0,0,0,0,0,0,eligible
c06,p06,2025-03,burglary,2025-03-08,16,0,1,0,0,0,0,vulnerable
c07,p07,2025-03,burglary,2025-03-09,70,0,0,1,0,0,0,no_further_action_requested
c08,p08,2025-03,burglary,2025-03-10,33,0,0,0,1,0,0,uncooperative
c09,p09,2025-03,burglary,2025-03-11,45,0,0,0,0,1,1,sensitive
c10,p10,2025-03,burglary,2025-03-12,45,0,0,0,0,0,1,police_victim
c11,p11,2025-03,burglary,2025-03-01,60,0,0,0,0,0,0,outside_contact_window
c12,p12,2025-03,burglary,2025-03-02,61,0,0,0,0,0,0,eligible
c13,p13,2025-03,burglary,2025-03-13,35,0,0,0,0,0,0,resurveyed_within_months
c14,p14,2025-03,burglary,2025-03-14,36,0,0,0,0,0,0,eligible
c15,p15,2025-03,burglary,2025-03-15,37,0,0,0,0,0,0,eligible
c16,p16,2025-03,burglary,2025-03-16,38,0,0,0,0,0,0,resurveyed_within_months
c17,p01,2025-03,burglary,2025-03-17,40,0,0,0,0,0,0,one_case_per_victim
c18,p18,2025-03,burglary,2025-03-18,41,0,0,0,0,0,0,optout_register
c19,p19,2025-03,burglary,2025-03-19,42,0,0,0,0,0,0,eligible
"""
# p13 sampled 12 months before (inside the window); p14 13 months before (outside); p15 this
# month by this very survey (the draw being redone: not a resurvey); p16 this month by another
# survey; p19 next month (not "in the last N months").
HISTORY = pd.DataFrame(
    {
        "person_id": ["p13", "p14", "p15", "p16", "p19"],
        "month": ["2024-03", "2024-02", "2025-03", "2025-03", "2025-04"],
        "survey": ["hate", "violent", "burglary", "hate", "hate"],
    }
)
REF = dt.date(2025, 5, 25)
FLAGS = [
    "opted_out",
    "vulnerable",
    "no_further_action_requested",
    "uncooperative",
    "sensitive",
    "police_victim",
]


def _scenario() -> pd.DataFrame:
    df = pd.read_csv(io.StringIO(SCENARIO), dtype={"age": "Int64"}).set_index("case")
    for f in FLAGS:
        df[f] = df[f].astype(bool)
    return df


def _apply(df, **kw):
    kw = {
        "optout_hashes": ["p18"],
        "history": HISTORY,
        "reference_date": REF,
        "match_on": ("victim",),
        **kw,
    }
    return apply(df.drop(columns="expected"), load_survey("burglary"), **kw)


def test_scenario_reasons_and_flow_match_the_hand_written_column():
    df = _scenario()
    res = _apply(df)
    expected = df["expected"]
    assert res.reason.sort_index().to_dict() == expected[expected != "eligible"].to_dict()
    assert list(res.eligible.index) == list(expected[expected == "eligible"].index)
    # Flow counts derived by hand from the expected column, in the configured order.
    order = [
        "out_of_scope",
        "opted_out",
        "under_min_age",
        "vulnerable",
        "no_further_action_requested",
        "uncooperative",
        "sensitive",
        "police_victim",
        "outside_contact_window",
        "resurveyed_within_months",
        "optout_register",
        "one_case_per_victim",
    ]
    assert list(res.flow.columns) == list(FLOW_COLUMNS)
    assert res.flow["rule"].tolist() == ["start", *order]
    assert res.flow["excluded"].tolist() == [0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1]
    assert res.flow["remaining"].tolist() == [19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 8, 7, 6]
    assert res.flow.loc[3, "label"] == "under_min_age (16)"
    assert "force-wide" in res.flow.iloc[-2]["note"]  # burglary does not list the register
    eligible, flow = res  # unpacks as (eligible, flow)
    assert eligible is res.eligible and flow is res.flow


def test_first_rule_in_configured_order_takes_the_victim():
    """c03 is opted out and vulnerable: reordering the rules moves it to vulnerable."""
    df = _scenario()
    s = load_survey("burglary")
    rules = list(s.exclusions)
    i_opt = [r.name for r in rules].index("opted_out")
    i_vul = [r.name for r in rules].index("vulnerable")
    rules[i_opt], rules[i_vul] = rules[i_vul], rules[i_opt]
    res = apply(
        df.drop(columns="expected"),
        dataclasses.replace(s, exclusions=tuple(rules)),
        optout_hashes=["p18"],
        history=HISTORY,
        reference_date=REF,
        match_on=("victim",),
    )
    assert res.reason["c03"] == "vulnerable"
    assert res.flow.set_index("rule").loc["opted_out", "excluded"] == 0
    assert res.flow.set_index("rule").loc["vulnerable", "excluded"] == 2


def test_register_not_enforced_when_asked_and_survey_does_not_list_it():
    res = _apply(_scenario(), enforce_register=False)
    assert "optout_register" not in res.flow["rule"].tolist()
    assert "c18" in res.eligible.index


def test_without_phone_the_register_match_warns():
    with pytest.warns(UserWarning, match="victim id only"):
        _apply(_scenario(), match_on=("victim", "phone"))


def test_missing_inputs_raise_clear_errors():
    df = _scenario().drop(columns="expected")
    s = load_survey("burglary")
    with pytest.raises(UsageError, match="reference_date"):
        apply(df, s, optout_hashes=[], history=HISTORY, match_on=("victim",))
    with pytest.raises(UsageError, match="history"):
        apply(df, s, optout_hashes=[], reference_date=REF, match_on=("victim",))
    with pytest.raises(UsageError, match="when must be"):
        apply(df, s, when="during")
    with pytest.raises(UsageError, match="vulnerable"):
        apply(df.drop(columns="vulnerable"), s, optout_hashes=[], history=HISTORY,
              reference_date=REF, match_on=("victim",))  # fmt: skip
    bad = df.copy()
    bad["sensitive"] = bad["sensitive"].astype(object)
    bad.loc[["c05", "c12"], "sensitive"] = None
    with pytest.raises(ValidationError) as info:
        apply(bad, s, optout_hashes=[], history=HISTORY, reference_date=REF, match_on=("victim",))
    assert info.value.column == "sensitive" and info.value.rows == [5, 12]


def test_optout_register_rule_needs_a_register():
    durham = load_force("durham").survey("burglary")
    df = _scenario().drop(columns="expected")
    with pytest.raises(UsageError, match="optout_hashes"):
        apply(df, durham, history=HISTORY, reference_date=REF)


# --------------------------------------------------------------------------- after selection


def test_after_selection_out_of_scope_units_and_estimated_eligible_totals():
    """Stratum A: N=10, n=4 (pi 0.4); B: N=6, n=2 (pi 1/3). a2 turned sensitive, b1 died.

    By hand: A frame total 4 x 2.5 = 10, out of scope 2.5, eligible 7.5; B 2 x 3 = 6, 3, 3.
    """
    sample = pd.DataFrame(
        {
            "person_id": ["a1", "a2", "a3", "a4", "b1", "b2"],
            "month": "2025-03",
            "offence_group": "burglary",
            "reported_date": pd.Timestamp("2025-03-10"),
            "age": pd.array([30, 40, 50, 60, 70, 80], dtype="Int64"),
            **{f: False for f in FLAGS},
            "inclusion_prob": [0.4] * 4 + [1 / 3] * 2,
            "stratum": ["A"] * 4 + ["B"] * 2,
        },
        index=[11, 12, 13, 14, 15, 16],
    )
    sample.loc[12, "sensitive"] = True
    deceased = np.array([False, False, False, False, True, False])
    res = apply(
        sample,
        load_survey("burglary"),
        when="after",
        optout_hashes=[],
        reference_date=dt.date(2025, 4, 20),
        extra_rules={"deceased": deceased},
        match_on=("victim",),
    )
    assert "resurveyed_within_months" not in res.flow["rule"].tolist()
    assert res.flow["rule"].iloc[-1] == "deceased"
    assert res.flow["remaining"].iloc[-1] == 4 == len(res.eligible)
    oos = res.out_of_scope(sample)
    assert oos.index.tolist() == [12, 15]
    assert oos["rule"].tolist() == ["sensitive", "deceased"]
    assert (oos["disposition"] == "4.10").all()
    t = res.totals.set_index("stratum")
    np.testing.assert_allclose(t["frame_total"], [10.0, 6.0])
    np.testing.assert_allclose(t["out_of_scope_total"], [2.5, 3.0])
    np.testing.assert_allclose(t["eligible_total"], [7.5, 3.0])
    assert t["out_of_scope"].tolist() == [1, 1]
    # The remaining units keep their design weights: they sum to the eligible totals.
    w = 1 / res.eligible["inclusion_prob"]
    np.testing.assert_allclose(w.groupby(res.eligible["stratum"]).sum(), [7.5, 3.0])


def test_after_selection_a_closed_contact_window_takes_units_out():
    sample = _scenario().drop(columns="expected").loc[["c01", "c12"]]
    # Transfer on 2025-05-26: c12 (reported 2025-03-02) closed on 2025-05-25; c01 (reported
    # 2025-03-03) closes on 2025-05-26 itself and can still be contacted that day.
    res = apply(
        sample,
        load_survey("burglary"),
        when="after",
        optout_hashes=[],
        reference_date="2025-05-26",
        match_on=("victim",),
    )
    assert res.reason.to_dict() == {"c12": "outside_contact_window"}
    assert res.totals is None  # no inclusion probabilities given


# --------------------------------------------------------------------------- synthetic data


@pytest.mark.parametrize("force", ["durham", "kent", "warwickshire", "cumbria", "met"])
def test_flow_adds_up_and_agrees_with_simple_eligibility(force):
    preset = load_force(force)
    v = generate_victims(force, "2025-03", seed=11, scale=0.25 if force != "met" else 0.05)
    rng = np.random.default_rng(3)
    ids = v["victim_id"].unique()
    register = rng.choice(ids, size=min(40, len(ids)), replace=False)
    last = pd.Series(
        rng.integers(2024 * 12 - 2, 2025 * 12 + 2, 60).astype(float),
        index=rng.choice(ids, size=60, replace=False),
    )
    mi = 2025 * 12 + 2
    for s in preset.surveys:
        ref_mask = simple_eligibility(v, s, optout_register=register, last_surveyed=last,
                                      month_index=mi)  # fmt: skip
        mask = synthetic_rule(v, s, optout_register=register, last_surveyed=last, month_index=mi)
        np.testing.assert_array_equal(mask, ref_mask, err_msg=f"{force}/{s.name}")
        # The full flow (with one case per victim) adds up step by step.
        hist = pd.DataFrame(
            {
                "person_id": last.index,
                "month": [f"{int(m) // 12}-{int(m) % 12 + 1:02d}" for m in last],
            }
        )
        res = apply(
            v.assign(person_id=v["victim_id"]),
            s,
            optout_hashes=register,
            history=hist,
            reference_date=dt.date(2025, 4, 1),
            match_on=("victim",),
        )
        f = res.flow
        assert f["remaining"].iloc[0] == len(v)
        np.testing.assert_array_equal(
            f["remaining"].to_numpy()[1:], f["remaining"].to_numpy()[:-1] - f["excluded"][1:]
        )
        assert f["excluded"].sum() + len(res.eligible) == len(v)
        counts = res.reason.value_counts()
        for rule, k in zip(f["rule"][1:], f["excluded"][1:]):
            assert counts.get(rule, 0) == k, (force, s.name, rule)
        # Without the one-case rule the eligible set is exactly the reference mask (+ the
        # register, which apply() enforces force-wide).
        extra = ~v["victim_id"].isin(register).to_numpy()
        if s.rule("resurveyed_within_months") is None:
            np.testing.assert_array_equal(res.mask, ref_mask & extra)
        else:
            dedup = v[ref_mask & extra].drop_duplicates("victim_id", keep="first").index
            assert list(res.eligible.index) == list(dedup)


# --------------------------------------------------------------------------- chart


def test_plot_flow_shows_every_count():
    import matplotlib

    matplotlib.use("Agg")
    res = _apply(_scenario())
    fig = plot_flow(res.flow, title="burglary 2025-03")
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "victims in month: 19" in texts
    assert "eligible: 6" in texts
    assert "excluded: resurveyed_within_months (12) (2)" in texts
    assert sum(t.startswith("excluded:") for t in texts) == len(res.flow) - 1
    with pytest.raises(UsageError, match="flow table"):
        plot_flow(pd.DataFrame({"x": [1]}))
