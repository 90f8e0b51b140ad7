"""Acceptance tests for methods.sampling.selection.select / allocate / derive_seed (issue 5).

The references here are hand-computed fixtures (allocations and inclusion probabilities worked
out in the comments), an independent pure-Python implementation of pi-ps certainty iteration,
and, for "inclusion probabilities are honest", the law of large numbers: over 4000 seeded
draws each unit's selection frequency must match the inclusion probability ``select`` reports,
within sampling error (max |z| < 4.5 over at most 120 units: a false alarm has probability
below 0.001 per design under a correct implementation; the seeds are fixed, so the test is
deterministic).
"""

from __future__ import annotations

import hashlib
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2

from methods.core.errors import UsageError, ValidationError
from methods.sampling.selection import _serpentine_order, allocate, derive_seed, select

DRAWS = 4000
Z_MAX = 4.5
# Stratum sizes of the small frame, in label (sorted) order.
SIZES = {"burglary": 50, "hate": 10, "vehicle": 40, "violent": 20}


def small_frame(seed: int = 11) -> pd.DataFrame:
    """120 victims in 4 offence strata, with a non-default index (victim ids 1000..1119)."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(list(SIZES), list(SIZES.values()))
    rng.shuffle(groups)  # strata interleaved in frame order
    n = groups.size
    size = rng.gamma(2.0, 1.0, n) + 0.1
    size[np.flatnonzero(groups == "burglary")[:2]] = 40.0  # two certainty units for pps
    return pd.DataFrame(
        {
            "offence_group": groups,
            "age": rng.integers(16, 90, n),
            "gender": rng.choice(
                ["female", "male", "other", "unknown"], n, p=[0.5, 0.45, 0.02, 0.03]
            ),
            "ethnicity": rng.choice(
                ["white", "mixed", "asian", "black", "other", "unknown"],
                n,
                p=[0.8, 0.03, 0.08, 0.04, 0.02, 0.03],
            ),
            "size": size,
        },
        index=pd.Index(np.arange(1000, 1000 + n), name="victim_id"),
    )


def run_draws(frame: pd.DataFrame, draws: int = DRAWS, **kwargs) -> tuple[np.ndarray, np.ndarray]:
    """Selection counts per unit over ``draws`` seeded draws, and the reported pi per unit
    (checked to be the same in every draw that selects the unit)."""
    counts = np.zeros(len(frame))
    reported = np.full(len(frame), np.nan)
    for seed in range(draws):
        s = select(frame, seed=seed, **kwargs)
        pos = frame.index.get_indexer(s.index)
        assert (pos >= 0).all()
        counts[pos] += 1
        pi = s["inclusion_prob"].to_numpy()
        known = ~np.isnan(reported[pos])
        np.testing.assert_allclose(pi[known], reported[pos][known], rtol=0, atol=1e-12)
        reported[pos] = pi
    return counts, reported


def assert_honest(
    counts: np.ndarray,
    pi: np.ndarray,
    groups: np.ndarray,
    draws: int = DRAWS,
    chi_square: bool = True,
) -> float:
    """Every unit's selection frequency matches its reported pi.

    - certainty units (pi = 1) are selected in every draw;
    - each other unit within Z_MAX binomial standard errors (max |z|);
    - per stratum, the total of selections within Z_MAX standard errors of draws x sum(pi)
      (catches a bias shared by a whole stratum that is too small to see unit by unit; the
      Poisson variance used is an upper bound for fixed-size designs);
    - with ``chi_square``, sum z^2 below the 0.9999 quantile of chi-square(m): valid when
      selections of different units are nearly independent (srs, poisson, pps on a random
      order), not for systematic sampling on a fixed list, where units k apart are selected
      together.

    Returns the largest unit |z|.
    """
    assert not np.isnan(pi).any(), "some unit was never selected, so its pi is unchecked"
    cert = pi >= 1
    assert (counts[cert] == draws).all()
    p = pi[~cert]
    z = (counts[~cert] - draws * p) / np.sqrt(draws * p * (1 - p))
    zmax = float(np.abs(z).max()) if z.size else 0.0
    assert zmax < Z_MAX, f"selection frequency off its reported pi: max |z| = {zmax:.2f}"
    for g in np.unique(groups):
        m = groups == g
        expected = draws * pi[m].sum()
        sd = math.sqrt(draws * (pi[m] * (1 - pi[m])).sum()) or 1.0
        assert abs(counts[m].sum() - expected) / sd < Z_MAX, (g, counts[m].sum(), expected)
    if chi_square:
        limit = chi2.ppf(1 - 1e-4, z.size)
        assert (z**2).sum() < limit, f"chi-square {(z**2).sum():.1f} >= {limit:.1f} (m={z.size})"
    return zmax


# ------------------------------------------------------------------------------------------
# Inclusion probabilities are honest
# ------------------------------------------------------------------------------------------
def test_stratified_srs_fraction_is_honest_and_weights_sum_to_stratum_sizes():
    frame = small_frame()
    # Hand computation: n = round(0.25 x 120) = 30; quotas 12.5, 2.5, 10, 5 (burglary, hate,
    # vehicle, violent); floors 12, 2, 10, 5 = 29; the tied remainders 0.5 go to the earlier
    # stratum, so n_h = 13, 2, 10, 5 and pi_h = 13/50, 2/10, 10/40, 5/20.
    expected_pi_h = {"burglary": 0.26, "hate": 0.2, "vehicle": 0.25, "violent": 0.25}
    one = select(frame, strata="offence_group", fraction=0.25, seed=1)
    assert one.groupby("stratum", observed=True).size().to_dict() == {
        "burglary": 13,
        "hate": 2,
        "vehicle": 10,
        "violent": 5,
    }
    sums = one.groupby("stratum", observed=True)["design_weight"].sum()
    for label, size in SIZES.items():
        assert sums[label] == pytest.approx(size, abs=1e-9)
    counts, pi = run_draws(frame, strata="offence_group", fraction=0.25)
    np.testing.assert_allclose(pi, frame["offence_group"].map(expected_pi_h).to_numpy())
    assert_honest(counts, pi, frame["offence_group"].to_numpy())


def test_fixed_n_per_stratum_is_honest():
    frame = small_frame()
    n = {"burglary": 5, "hate": 9, "vehicle": 20, "violent": 1}
    counts, pi = run_draws(frame, strata="offence_group", n=n, allocation="fixed")
    expected = frame["offence_group"].map({k: n[k] / SIZES[k] for k in n}).to_numpy()
    np.testing.assert_allclose(pi, expected)
    assert_honest(counts, pi, frame["offence_group"].to_numpy())


def test_systematic_with_sort_by_is_honest():
    frame = small_frame()
    # n = round(0.15 x 120) = 18; quotas 7.5, 1.5, 6, 3 -> 8, 1, 6, 3 (tie to the earlier);
    # burglary's interval 50 / 8 = 6.25 is fractional, yet every unit keeps pi = 8/50.
    expected_pi_h = {"burglary": 8 / 50, "hate": 1 / 10, "vehicle": 6 / 40, "violent": 3 / 20}
    counts, pi = run_draws(
        frame,
        strata="offence_group",
        fraction=0.15,
        method="systematic",
        sort_by=["age", "gender", "ethnicity"],
    )
    np.testing.assert_allclose(pi, frame["offence_group"].map(expected_pi_h).to_numpy())
    assert_honest(counts, pi, frame["offence_group"].to_numpy(), chi_square=False)


def test_poisson_is_honest_and_its_size_varies():
    frame = small_frame()
    # equal allocation of 30 over 4 strata: quota 7.5 each, pi_h = 7.5 / N_h.
    counts, pi = run_draws(
        frame, strata="offence_group", n=30, allocation="equal", method="poisson"
    )
    expected = frame["offence_group"].map({k: 7.5 / v for k, v in SIZES.items()}).to_numpy()
    np.testing.assert_allclose(pi, expected)
    assert_honest(counts, pi, frame["offence_group"].to_numpy())
    sizes = [len(select(frame, n=30, method="poisson", seed=s)) for s in range(300)]
    # Bernoulli(0.25) x 120: mean 30, sd sqrt(120 x 0.25 x 0.75) = 4.74
    assert np.mean(sizes) == pytest.approx(30, abs=1.0)
    assert 3.5 < np.std(sizes) < 6.0
    with_fraction = select(frame, fraction=0.2, method="poisson", seed=3)
    assert (with_fraction["inclusion_prob"] == 0.2).all()


def reference_pps_pi(codes: list[str], x: list[float], n: dict[str, int]) -> list[float]:
    """Independent, loop-based pi-ps with certainty units (Sarndal et al. 1992, 3.6.2):
    within each stratum, pi_i = m x_i / X over the non-certainty units, units with pi >= 1
    fixed at 1 and removed, repeated."""
    pi = [0.0] * len(x)
    for stratum, n_h in n.items():
        members = [i for i, c in enumerate(codes) if c == stratum]
        certain: set[int] = set()
        while True:
            rest = [i for i in members if i not in certain]
            total = sum(x[i] for i in rest)
            m = n_h - len(certain)
            new = {i for i in rest if m * x[i] / total >= 1}
            if not new:
                break
            certain |= new
        for i in members:
            pi[i] = 1.0 if i in certain else m * x[i] / total
    return pi


def test_pps_is_honest_with_certainty_units():
    frame = small_frame()
    n = {"burglary": 10, "hate": 3, "vehicle": 8, "violent": 4}
    expected = reference_pps_pi(frame["offence_group"].tolist(), frame["size"].tolist(), n)
    assert sum(p == 1.0 for p in expected) >= 2  # the two big burglary units are certain
    counts, pi = run_draws(frame, strata="offence_group", n=n, method="pps", size="size")
    np.testing.assert_allclose(pi, expected, rtol=1e-12)
    assert_honest(counts, pi, frame["offence_group"].to_numpy())
    one = select(frame, strata="offence_group", n=n, method="pps", size="size", seed=5)
    assert one.groupby("stratum", observed=True).size().to_dict() == n


def test_pps_ordered_by_sort_by_keeps_pi():
    frame = small_frame()
    counts, pi = run_draws(frame, draws=2000, n=20, method="pps", size="size", sort_by=["age"])
    expected = reference_pps_pi(["all"] * len(frame), frame["size"].tolist(), {"all": 20})
    np.testing.assert_allclose(pi, expected, rtol=1e-12)
    assert_honest(counts, pi, np.zeros(len(frame)), draws=2000, chi_square=False)


# ------------------------------------------------------------------------------------------
# Reproducibility and output shape
# ------------------------------------------------------------------------------------------
def test_same_seed_same_sample_other_seed_other_sample():
    frame = small_frame()
    kwargs = dict(strata="offence_group", fraction=0.3)
    for method in ("srs", "systematic", "poisson"):
        a = select(frame, seed=42, method=method, **kwargs)
        b = select(frame, seed=42, method=method, **kwargs)
        c = select(frame, seed=43, method=method, **kwargs)
        pd.testing.assert_frame_equal(a, b)
        assert not a.index.equals(c.index)
    month = ("Durham", "Burglary", "2024-03")
    a = select(frame, seed=month, n=20)
    b = select(frame, seed=derive_seed(*month), n=20)
    c = select(frame, seed=("Durham", "Burglary", "2024-04"), n=20)
    assert a.index.equals(b.index) and not a.index.equals(c.index)
    assert a.attrs["sampling"]["seed"] == derive_seed(*month)


def test_derive_seed_is_a_stable_sha256_of_the_month():
    text = "vsw/sampling/v1|durham|burglary|2024-03"
    expected = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
    assert derive_seed("Durham", "Burglary", "2024-03") == expected
    assert derive_seed(" durham ", "BURGLARY", pd.Period("2024-03", "M")) == expected
    assert derive_seed("Durham", "Burglary", pd.Timestamp("2024-03-17")) == expected
    assert derive_seed("Durham", "Burglary", "2024-04") != expected
    assert derive_seed("Kent", "Burglary", "2024-03") != expected
    with pytest.raises(UsageError, match="YYYY-MM"):
        derive_seed("Durham", "Burglary", "March 2024")


def test_result_keeps_index_and_columns_in_frame_order():
    frame = small_frame()
    s = select(frame, strata="offence_group", n=24, seed=7)
    assert s.index.is_monotonic_increasing and s.index.isin(frame.index).all()
    pd.testing.assert_frame_equal(s[frame.columns], frame.loc[s.index])
    assert (s["design_weight"] * s["inclusion_prob"]).round(12).eq(1).all()
    assert (s["stratum"].astype(str) == s["offence_group"]).all()
    assert s.attrs["sampling"]["by_stratum"]["hate"] == {"N": 10, "n": 2, "selected": 2}
    census = select(frame, allocation="census", seed=1)
    assert len(census) == len(frame) and (census["design_weight"] == 1).all()
    crossed = select(frame, strata=["offence_group", "gender"], fraction=0.5, seed=1)
    assert set(crossed["stratum"].astype(str)) <= {
        f"{o}|{g}" for o in SIZES for g in ("female", "male", "other", "unknown")
    }
    sums = crossed.groupby("stratum", observed=True)["design_weight"].sum()
    truth = frame.groupby(["offence_group", "gender"]).size()
    for (o, g), size in truth.items():
        assert sums[f"{o}|{g}"] == pytest.approx(size)


def test_target_completes_and_response_rate_set_n():
    frame = small_frame()
    # ceil(17 / 0.45) = ceil(37.78) = 38
    s = select(frame, target_completes=17, response_rate=0.45, seed=1)
    assert len(s) == 38
    s = select(
        frame,
        strata="offence_group",
        target_completes={"burglary": 9, "hate": 2, "vehicle": 5, "violent": 4},
        response_rate=0.5,
        seed=1,
    )
    assert s.groupby("stratum", observed=True).size().to_dict() == {
        "burglary": 18,
        "hate": 4,
        "vehicle": 10,
        "violent": 8,
    }


# ------------------------------------------------------------------------------------------
# Implicit stratification: systematic on a sorted list keeps the profile
# ------------------------------------------------------------------------------------------
def profile_frame(n: int = 1500, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "offence_group": rng.choice(["burglary", "vehicle", "violent"], n, p=[0.4, 0.35, 0.25]),
            "age": np.clip(rng.normal(45, 17, n).round(), 16, 95),
            "gender": rng.choice(
                ["female", "male", "other", "unknown"], n, p=[0.48, 0.47, 0.02, 0.03]
            ),
            "ethnicity": rng.choice(
                ["white", "mixed", "asian", "black", "other", "unknown"],
                n,
                p=[0.78, 0.04, 0.09, 0.05, 0.02, 0.02],
            ),
        }
    )


def mean_abs_smd(sample: pd.DataFrame, frame: pd.DataFrame) -> float:
    """Average absolute standardised mean difference (sample vs frame) over age and the
    gender and ethnicity indicators: |mean_s - mean_F| / sd_F (Austin 2009)."""
    cols_f = pd.get_dummies(frame[["gender", "ethnicity"]], dtype=float).assign(age=frame["age"])
    cols_s = cols_f.loc[sample.index]
    smd = (cols_s.mean() - cols_f.mean()).abs() / cols_f.std(ddof=0)
    return float(smd.mean())


@pytest.mark.parametrize(
    "sort_by", [["age", "gender", "ethnicity"], ["gender", "ethnicity", "age"]]
)
def test_systematic_sorted_profile_is_closer_to_frame_than_srs(sort_by):
    frame = profile_frame()
    kwargs = dict(strata="offence_group", fraction=0.1)
    srs = [mean_abs_smd(select(frame, seed=s, **kwargs), frame) for s in range(200)]
    sys_ = [
        mean_abs_smd(select(frame, seed=s, method="systematic", sort_by=sort_by, **kwargs), frame)
        for s in range(200)
    ]
    # Systematic must be smaller by more than 3 standard errors of the difference of the two
    # 200-draw means (Welch). Measured: srs 0.062; age first 0.056 (z = 4.6: age is balanced,
    # the rare categories barely); gender, ethnicity, age 0.021 (z = 35).
    diff = np.mean(srs) - np.mean(sys_)
    se = math.sqrt(np.var(srs, ddof=1) / 200 + np.var(sys_, ddof=1) / 200)
    assert diff > 3 * se, (np.mean(sys_), np.mean(srs), se)


def test_serpentine_order_by_hand():
    # Sorted by gender then age: female ascending by age, male descending (Chromy 1979),
    # within each stratum; ties keep frame order; a missing age sorts last (first when the
    # direction is reversed).
    frame = pd.DataFrame(
        {
            "s": ["a", "a", "a", "a", "a", "b", "b", "b"],
            "gender": ["male", "female", "male", "female", "male", "female", "male", "female"],
            "age": [30, 50, np.nan, 20, 60, 40, 70, 40],
        }
    )
    codes = np.array([0, 0, 0, 0, 0, 1, 1, 1])
    order = _serpentine_order(codes, frame, ["gender", "age"])
    assert order.tolist() == [3, 1, 2, 4, 0, 5, 7, 6]


# ------------------------------------------------------------------------------------------
# Allocation
# ------------------------------------------------------------------------------------------
def test_proportional_allocation_largest_remainder():
    # quotas 100 x (523, 301, 176) / 1000 = 52.3, 30.1, 17.6 -> floors 52, 30, 17 = 99;
    # the largest remainder (0.6) gets the last unit: 52, 30, 18.
    assert allocate({"a": 523, "b": 301, "c": 176}, 100) == {"a": 52, "b": 30, "c": 18}


def test_neyman_allocation_with_sds_and_rates():
    # N S = 1000 x 10, 500 x 20, 200 x 40 = 10000, 10000, 8000 (sum 28000);
    # quotas 35.71, 35.71, 28.57 -> floors 35, 35, 28 = 98 -> 36, 36, 28 (Cochran 1977, 5.26).
    sizes = {"a": 1000, "b": 500, "c": 200}
    assert allocate(sizes, 100, "neyman", priors={"sd": {"a": 10, "b": 20, "c": 40}}) == {
        "a": 36,
        "b": 36,
        "c": 28,
    }
    # p = 0.8, 0.5, 0.9 -> S = 0.4, 0.5, 0.3; N S = 400, 250, 60 (sum 710);
    # quotas 56.34, 35.21, 8.45 -> floors 56, 35, 8 = 99 -> 8.45 has the largest remainder.
    got = allocate(sizes, 100, "neyman", priors={"p": {"a": 0.8, "b": 0.5, "c": 0.9}})
    assert got == {"a": 56, "b": 35, "c": 9}


def test_neyman_take_all_stratum_is_capped_and_reallocated():
    # N S = 1000 x 10, 500 x 20, 30 x 2667 = 10000, 10000, 80010: c's optimum is
    # 100 x 80010 / 100010 = 80 > 30, so c is taken whole (30) and 70 shared 50/50: 35, 35, 30.
    with pytest.warns(UserWarning, match="taken whole"):
        got = allocate(
            {"a": 1000, "b": 500, "c": 30},
            100,
            "neyman",
            priors={"sd": {"a": 10, "b": 20, "c": 2667}},
        )
    assert got == {"a": 35, "b": 35, "c": 30}


def test_equal_census_and_minimum_one():
    assert allocate({"a": 100, "b": 50, "c": 17}, 30, "equal") == {"a": 10, "b": 10, "c": 10}
    assert allocate({"a": 100, "b": 50}, allocation="census") == {"a": 100, "b": 50}
    # proportional 10 over (990, 5, 5): quotas 9.9, 0.05, 0.05 -> 10, 0, 0 -> at least one
    # each, taken from the stratum above its quota: 8, 1, 1.
    assert allocate({"a": 990, "b": 5, "c": 5}, 10) == {"a": 8, "b": 1, "c": 1}
    with pytest.warns(UserWarning, match="inclusion probability 0"):
        got = allocate({"a": 990, "b": 5, "c": 5}, 2)
    assert got == {"a": 2, "b": 0, "c": 0}


@settings(max_examples=300, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 60), min_size=1, max_size=8).filter(lambda v: sum(v) > 0),
    share=st.floats(0.001, 1.0),
    allocation=st.sampled_from(["proportional", "equal", "neyman"]),
    sds=st.lists(st.floats(0.0, 5.0), min_size=8, max_size=8),
)
def test_allocation_properties(sizes, share, allocation, sds):
    """Largest-remainder allocation sums to n exactly, never exceeds a stratum, and gives each
    non-empty stratum at least one unit whenever n covers them all."""
    labelled = {f"s{i}": v for i, v in enumerate(sizes)}
    n = max(1, round(share * sum(sizes)))
    priors = (
        {"sd": {f"s{i}": sds[i] for i in range(len(sizes))}} if allocation == "neyman" else None
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # capping / weight-0 notices
        got = allocate(labelled, n, allocation, priors=priors)
    assert sum(got.values()) == n
    assert all(0 <= got[k] <= labelled[k] for k in labelled)
    nonempty = [k for k, v in labelled.items() if v > 0]
    if n >= len(nonempty):
        assert all(got[k] >= 1 for k in nonempty)
    if allocation == "proportional":
        # each n_h within one unit of its quota n N_h / N, except for the minimum-one moves
        quota = {k: n * v / sum(sizes) for k, v in labelled.items()}
        moved = sum(1 for k in nonempty if quota[k] < 1)
        assert all(abs(got[k] - quota[k]) < 1 + moved for k in labelled)


# ------------------------------------------------------------------------------------------
# Clear errors
# ------------------------------------------------------------------------------------------
def test_errors_name_the_problem():
    frame = small_frame()
    with pytest.raises(ValidationError, match=r"stratum 'hate' asks for 11 but holds 10"):
        select(
            frame,
            strata="offence_group",
            n={"burglary": 1, "hate": 11, "vehicle": 1, "violent": 1},
            seed=1,
        )
    with pytest.raises(ValidationError, match=r"n=121 is larger than the frame \(120"):
        select(frame, n=121, seed=1)
    for bad in (0, 1.5, -0.1):
        with pytest.raises(UsageError, match=r"fraction must be in \(0, 1\]"):
            select(frame, fraction=bad, seed=1)
    with pytest.raises(UsageError, match="not both"):
        select(frame, n=10, fraction=0.1, seed=1)
    with pytest.raises(UsageError, match="unknown allocation 'optimal'"):
        select(frame, n=10, allocation="optimal", seed=1)
    with pytest.raises(UsageError, match="unknown method 'cluster'"):
        select(frame, n=10, method="cluster", seed=1)
    with pytest.raises(UsageError, match="needs size"):
        select(frame, n=10, method="pps", seed=1)
    with pytest.raises(UsageError, match="no value for stratum"):
        select(frame, strata="offence_group", n={"burglary": 3}, seed=1)
    with pytest.raises(UsageError, match="neyman allocation needs priors"):
        select(frame, strata="offence_group", n=10, allocation="neyman", seed=1)
    bad = frame.copy()
    bad.iloc[[3, 7], bad.columns.get_loc("size")] = [0.0, -2.0]
    with pytest.raises(ValidationError, match="column 'size'.*row\\(s\\) 4, 8.*positive"):
        select(bad, n=10, method="pps", size="size", seed=1)
    bad = frame.copy()
    bad["offence_group"] = bad["offence_group"].astype(object)
    bad.iloc[5, bad.columns.get_loc("offence_group")] = None
    with pytest.raises(ValidationError, match="column 'offence_group'.*row\\(s\\) 6"):
        select(bad, strata="offence_group", n=10, seed=1)
    with pytest.raises(UsageError, match="seed"):
        select(frame, n=10, seed="durham")
    with pytest.raises(UsageError, match="sort_by only orders"):
        select(frame, n=10, sort_by="age", seed=1)


def test_equal_allocation_over_a_small_stratum_warns_with_figures():
    frame = small_frame()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = select(frame, strata="offence_group", n=60, allocation="equal", seed=1)
    assert any("hate (N=10)" in str(w.message) for w in caught)
    # hate taken whole (10); 50 shared equally by the other three: 16.67 each -> 17, 17, 16
    assert s.groupby("stratum", observed=True).size().to_dict() == {
        "burglary": 17,
        "hate": 10,
        "vehicle": 17,
        "violent": 16,
    }
    assert math.isclose(s.loc[s["stratum"] == "hate", "inclusion_prob"].iloc[0], 1.0)
