"""Fieldwork simulation: response rates by mode against the seeds' figures, dispositions that
the AAPOR rates accept, a measurement effect the decomposition recovers, reproducibility."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from methods.fieldwork.modes import ModePlan, simulate, true_measurement_effect
from methods.nonresponse.rates import mode_effects, outcome_rates
from methods.report.tables import satisfied
from methods.synthetic.generate import generate_victims


@pytest.fixture(scope="module")
def population() -> pd.DataFrame:
    frames = [generate_victims("durham", m, seed=11) for m in ("2025-03", "2025-04", "2025-05")]
    v = pd.concat(frames, ignore_index=True)
    return v[v["age"].fillna(30) >= 16].reset_index(drop=True)


def _rr1(out: pd.DataFrame) -> float:
    return float(outcome_rates(out["disposition"].to_numpy()).iloc[0]["RR1"])


def test_telephone_and_paper_response_rates_match_the_seeds(population):
    """Cumbria's page: telephone 45-55%, paper 20-25%."""
    tel = simulate(population, "telephone", seed=1)
    paper = simulate(population, "paper", seed=1)
    assert 0.45 <= _rr1(tel) <= 0.55, _rr1(tel)
    assert 0.20 <= _rr1(paper) <= 0.25, _rr1(paper)
    # Sequential adds paper for non-contacts and those without a phone: more completes.
    seq = simulate(population, "sequential", seed=1)
    assert (seq["disposition"] == "1.1").mean() > (tel["disposition"] == "1.1").mean()
    assert set(seq.loc[seq["mode"] == "paper", "disposition"]) <= {
        "1.1",
        "1.2",
        "3.10",
        "3.90",
        "4.10",
    }


def test_who_answers_differs_by_age_and_ethnicity(population):
    out = simulate(population, "telephone", seed=2)
    done = out["disposition"].str.startswith("1.")
    young = population["age"] < 25
    old = population["age"] >= 55
    assert done[old].mean() > done[young].mean() + 0.05
    white = population["ethnicity"] == "white"
    minority = population["ethnicity"].isin(["asian", "black", "mixed", "other"])
    assert done[white].mean() > done[minority].mean()


def test_answers_only_for_interviews_and_dates_in_the_contact_window(population):
    out = simulate(population, ModePlan(plan="telephone", window_weeks=(8, 12)), seed=3)
    done = out["disposition"].str.startswith("1.")
    assert out.loc[~done, "whole_experience"].isna().all()
    assert out.loc[~done, "interview_date"].isna().all()
    gap = (
        pd.to_datetime(out.loc[done, "interview_date"])
        - pd.to_datetime(population.loc[done, "reported_date"])
    ).dt.days
    assert gap.between(56, 84).all()


def test_same_seed_same_fieldwork_and_another_seed_another(population):
    a = simulate(population, "sequential", seed=5)
    b = simulate(population, "sequential", seed=5)
    c = simulate(population, "sequential", seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert not a["disposition"].equals(c["disposition"])


def test_nmar_strength_changes_who_answers(population):
    mar = simulate(population, ModePlan(plan="telephone", nmar=0.0), seed=7)
    nmar = simulate(population, ModePlan(plan="telephone", nmar=2.0), seed=7)
    truth = population["true_p_whole_experience"].mean()

    def resp_mean(out):
        y = satisfied(out["whole_experience"])
        return np.nanmean(y)

    assert resp_mean(nmar) > resp_mean(mar)
    assert abs(resp_mean(mar) - truth) < abs(resp_mean(nmar) - truth)


def test_experiment_recovers_the_measurement_effect(population):
    """Randomised mode experiment: the decomposition's CI covers the known measurement effect."""
    shift = 0.8
    out = simulate(population, ModePlan(plan="experiment", mode_shift=shift), seed=9)
    done = out["disposition"].str.startswith("1.")
    resp = population.loc[done, ["age", "gender", "ethnicity", "offence_group"]].copy()
    resp["age_group"] = pd.cut(
        resp["age"].fillna(-1),
        [-2, 0, 25, 35, 55, 75, 200],
        labels=["unknown", "16-24", "25-34", "35-54", "55-74", "75+"],
    )
    resp["mode"] = out.loc[done, "mode"]
    resp["sat"] = satisfied(out.loc[done, "whole_experience"])
    resp = resp.dropna(subset=["sat"])
    truth = true_measurement_effect(population.loc[resp.index][resp["mode"] == "telephone"], shift)
    res = mode_effects(resp, "sat", ["age_group", "gender", "offence_group"], bootstrap=200, seed=1)
    m = res.loc["measurement"]
    assert m["ci_low"] <= truth <= m["ci_high"], (truth, m.to_dict())
    assert truth > 0.03


def test_cases_taken_from_a_population_give_the_fieldwork_of_those_rows(population):
    """The engine's path (FieldworkCases of the population once, rows taken per sample,
    simulate_cases) gives exactly the frame simulate gives on those rows with the same seed."""
    from methods.fieldwork.modes import FieldworkCases, simulate_cases

    plan = ModePlan(plan="sequential", nmar=1.0, mode_shift=0.5)
    cases = FieldworkCases.from_frame(population, plan.covariate_effects)
    rows = np.sort(np.random.default_rng(4).choice(len(population), 1500, replace=False))
    sub = population.iloc[rows]
    want = simulate(sub, plan, seed=12)
    taken = cases.take(rows)
    got = simulate_cases(taken, plan, np.random.default_rng(12))
    ids = {k: sub[k].to_numpy() for k in ("crime_ref", "victim_id")}
    pd.testing.assert_frame_equal(got.to_frame(sub.index, ids, taken.reported), want)
    assert got.responded.sum() == want["disposition"].str.startswith("1.").sum() > 200
