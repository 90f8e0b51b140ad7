"""Sample size and power (issue 5): methods.sampling.selection.sample_size and completes_for_change.

References: hand computations (shown in comments), Krejcie and Morgan's (1970) published
table, samplics 0.6 (``SampleSize`` / ``calculate_ss_wald_prop`` and
``SampleSizePropTwoSample``) where it covers the case, and R's ``power.prop.test``, which
solves Fleiss, Levin and Paik's (2003) eq. 4.14 for n.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import warnings

import pytest

from methods.core.errors import UsageError
from methods.sampling.selection import completes_for_change, sample_size

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # "samplics is archived"
    from samplics.sampling import SampleSize, SampleSizePropTwoSample, calculate_ss_wald_prop
    from samplics.utils.types import PopParam, SizeMethod

Z95 = 1.959963984540054


def test_issue_example_by_hand():
    # vsw samplesize --moe 0.03 --p 0.8 --deff 1.3 --response-rate 0.5:
    # n0 = 1.959964^2 x 0.8 x 0.2 x 1.3 / 0.03^2 = 3.841459 x 0.208 / 0.0009 = 887.80 -> 888;
    # issued = ceil(888 / 0.5) = 1776.
    assert Z95**2 * 0.16 * 1.3 / 0.0009 == pytest.approx(887.8038, abs=1e-4)
    assert sample_size(0.03, p=0.8, deff=1.3, response_rate=0.5) == {
        "completes": 888,
        "issued": 1776,
    }


def test_finite_population_correction_by_hand():
    # moe 0.05, p 0.5: n0 = 3.841459 x 0.25 / 0.0025 = 384.146 -> 385 without FPC.
    assert sample_size(0.05)["completes"] == 385
    # N = 1000, Cochran (1977) eq. 4.2: 384.146 / (1 + 383.146 / 1000) = 277.74 -> 278.
    assert sample_size(0.05, population=1000) == {"completes": 278, "issued": 278}
    # telephone response 45%: ceil(278 / 0.45) = ceil(617.8) = 618
    assert sample_size(0.05, population=1000, response_rate=0.45)["issued"] == 618
    # Kent's hate-crime survey: 177 surveyed a quarter; about 100 completes a quarter at
    # p = 0.785 gives moe 1.96 sqrt(0.785 x 0.215 / 100) = 0.0805 -> 0.08 needs 102 (101.3).
    assert sample_size(0.08, p=0.785)["completes"] == 102


# Krejcie, R.V. and Morgan, D.W. (1970) Determining sample size for research activities.
# Educational and Psychological Measurement 30, 607-610, Table 1 (chi-square 3.841, P = 0.5,
# d = 0.05). Their table rounds to the nearest unit (and shows 384 for N = 100,000 where the
# formula gives 382.7), so we agree within one unit.
KREJCIE_MORGAN = {
    10: 10,
    20: 19,
    30: 28,
    50: 44,
    100: 80,
    150: 108,
    200: 132,
    300: 169,
    400: 196,
    500: 217,
    750: 254,
    1000: 278,
    1500: 306,
    2000: 322,
    3000: 341,
    5000: 357,
    10000: 370,
    20000: 377,
    50000: 381,
    100000: 384,
    1000000: 384,
}


@pytest.mark.parametrize("population,published", sorted(KREJCIE_MORGAN.items()))
def test_matches_krejcie_morgan_table(population, published):
    assert abs(sample_size(0.05, population=population)["completes"] - published) <= 1


@pytest.mark.parametrize("moe", [0.02, 0.03, 0.05, 0.1])
@pytest.mark.parametrize("p", [0.5, 0.8, 0.9, 0.96])
@pytest.mark.parametrize("population", [None, 200, 1500, 40000])
def test_matches_samplics_without_design_effect(moe, p, population):
    ref = calculate_ss_wald_prop(target=p, half_ci=moe, pop_size=population)
    assert sample_size(moe, p=p, population=population)["completes"] == ref


@pytest.mark.parametrize("deff", [1.0, 1.3, 2.0])
@pytest.mark.parametrize("conf", [0.9, 0.95, 0.99])
def test_matches_samplics_sample_size_class(deff, conf):
    ref = SampleSize(param=PopParam.prop, method=SizeMethod.wald)
    ref.calculate(half_ci=0.03, target=0.82, deff=deff, alpha=1 - conf)
    got = sample_size(0.03, p=0.82, deff=deff, conf=conf)
    assert got["completes"] == ref.samp_size
    # issued = ceil(completes / rr); samplics divides before rounding, so can be lower by
    # at most ceil(1 / rr) units.
    ref.calculate(half_ci=0.03, target=0.82, deff=deff, alpha=1 - conf, resp_rate=0.22)
    issued = sample_size(0.03, p=0.82, deff=deff, conf=conf, response_rate=0.22)["issued"]
    assert issued == math.ceil(got["completes"] / 0.22 - 1e-9)
    assert 0 <= issued - ref.samp_size <= math.ceil(1 / 0.22)


def test_issued_above_population_warns():
    with pytest.warns(UserWarning, match="larger than the population"):
        got = sample_size(0.03, population=400, response_rate=0.25)
    # 1067.1 / (1 + 1066.1 / 400) = 291.1 -> 292; 292 / 0.25 = 1168 > 400
    assert got == {"completes": 292, "issued": 1168}


def test_sample_size_refuses_bad_input():
    for kwargs, match in [
        ({"moe": 0}, "moe"),
        ({"moe": 0.03, "p": 1.0}, "p must be"),
        ({"moe": 0.03, "response_rate": 0}, "response_rate"),
        ({"moe": 0.03, "response_rate": 1.2}, "response_rate"),
        ({"moe": 0.03, "deff": 0}, "deff"),
        ({"moe": 0.03, "population": 0}, "population"),
        ({"moe": 0.03, "conf": 95}, "conf"),
    ]:
        with pytest.raises(UsageError, match=match):
            sample_size(**kwargs)


# R 4.x: power.prop.test(p1, p2, power, sig.level = 0.05)$n (strict = FALSE), which is
# Fleiss et al. (2003) eq. 4.14 solved for n.
R_POWER_PROP_TEST = [
    # p1, d, power, two_sided, n from R
    (0.80, 0.05, 0.8, True, 905.3658),
    (0.82, -0.05, 0.8, True, 1022.157),
    (0.50, 0.10, 0.8, True, 387.3385),
    (0.90, 0.05, 0.8, True, 434.432),
    (0.80, 0.05, 0.9, False, 987.248),
]


@pytest.mark.parametrize("p1,d,power,two_sided,r_n", R_POWER_PROP_TEST)
def test_change_matches_r_power_prop_test(p1, d, power, two_sided, r_n):
    assert completes_for_change(p1, d, power=power, two_sided=two_sided) == math.ceil(r_n)
    assert completes_for_change(p1, d, power=power, two_sided=two_sided, deff=1.5) == (
        math.ceil(1.5 * r_n)
    )


@pytest.mark.r
def test_change_matches_r_live():
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not found: install R (Debian r-base-core) to run this cross-check")
    cases = [(0.75, 0.04, 0.8, 0.05), (0.6, 0.1, 0.9, 0.01), (0.93, 0.03, 0.8, 0.1)]
    code = ";".join(
        f"cat(power.prop.test(p1={p1},p2={p1 + d},power={pw},sig.level={a})$n,'\\n')"
        for p1, d, pw, a in cases
    )
    out = subprocess.run(
        ["Rscript", "-e", code], capture_output=True, text=True, check=True, timeout=60
    )
    r_ns = [float(v) for v in out.stdout.split()]
    for (p1, d, pw, a), r_n in zip(cases, r_ns, strict=True):
        assert completes_for_change(p1, d, power=pw, alpha=a) == math.ceil(r_n - 1e-9)


@pytest.mark.parametrize("p1,d", [(0.8, 0.05), (0.5, 0.1), (0.9, -0.04), (0.3, 0.15)])
@pytest.mark.parametrize("two_sided", [True, False])
def test_unpooled_matches_samplics_two_sample(p1, d, two_sided):
    ref = SampleSizePropTwoSample(two_sides=two_sided)
    ref.calculate(prop_1=p1, prop_2=p1 + d)
    got = completes_for_change(p1, d, two_sided=two_sided, method="unpooled")
    assert got == ref.samp_size[1]


def test_continuity_correction_by_hand():
    # Fleiss et al. (2003) eq. 4.15: n' = n / 4 (1 + sqrt(1 + 4 / (n |d|)))^2 with
    # n = 905.3658 (p1 0.8, d 0.05): 905.3658 / 4 x (1 + sqrt(1 + 4 / 45.268))^2 = 944.94.
    n = 905.3658
    expected = n / 4 * (1 + math.sqrt(1 + 4 / (n * 0.05))) ** 2
    assert expected == pytest.approx(944.94, abs=0.01)
    assert completes_for_change(0.8, 0.05, continuity=True) == math.ceil(expected)


def test_change_refuses_bad_input():
    with pytest.raises(UsageError, match=r"p1 \+ d must stay in \(0, 1\)"):
        completes_for_change(0.97, 0.05)
    with pytest.raises(UsageError, match="non-zero"):
        completes_for_change(0.8, 0)
    with pytest.raises(UsageError, match="power"):
        completes_for_change(0.8, 0.05, power=1.0)
    with pytest.raises(UsageError, match="method"):
        completes_for_change(0.8, 0.05, method="exact")
