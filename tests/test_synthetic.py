"""Synthetic force data: calibration to published figures, the data contract, reproducibility.

Outside references: the published satisfaction figures and Northumbria's ethnic gap in
docs/methods.md, Kent's published numbers surveyed (docs/sources.md, source 004), the response rates in
docs/sources.md, source 000 (telephone 45-55%, paper 20-25%), Ofcom's drama telephone range, the AAPOR
disposition codes and the docs/data_contract.md columns.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources

import numpy as np
import pandas as pd
import pytest

from methods.config.presets import ConfigError, list_forces, load_force, load_force_file
from methods.core.errors import UsageError
from methods.core.schema import (
    ETHNICITIES,
    GENDERS,
    OFFENCE_GROUPS,
    RESPONSE_COLUMNS,
    STAGES,
    VICTIM_COLUMNS,
    VICTIM_FLAGS,
)
from methods.synthetic.generate import (
    calibration_table,
    census_satisfaction,
    draw_answers,
    generate_victims,
    months_range,
    satisfied_share,
    simple_eligibility,
)
from methods.workflows.synthetic import write_synthetic

SEED = 20250101
YEAR = months_range("2025-01:2025-12")
SCALE = {"met": 0.25}  # London is big: a quarter of its volume is plenty for the checks
AAPOR = {"1.1", "1.2", "2.11", "2.12", "2.20", "2.30", "3.10", "3.90", "4.10"}
MINORITY = ["mixed", "asian", "black", "other"]
_cache: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}


def year_of(force: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A year of ``force``'s victims and the census answers of all of them (cached)."""
    if force not in _cache:
        v = pd.concat(
            [generate_victims(force, m, SEED, SCALE.get(force, 1.0)) for m in YEAR],
            ignore_index=True,
        )
        _cache[force] = (v, draw_answers(v, SEED))
    return _cache[force]


# --------------------------------------------------------------------------- calibration


@pytest.mark.parametrize("force", ["cumbria", "durham", "kent", "met", "warwickshire"])
def test_calibration_solves_every_target(force):
    """The root finder puts the model's expected census exactly on every published target."""
    t = calibration_table(force)
    assert set(t["stage"]) == set(STAGES)
    assert np.allclose(t["expected"], t["target"], atol=1e-6)
    surveyed = set(t["unit"]) - {"not surveyed"}
    assert surveyed == set(load_force(force).survey_names)


@pytest.mark.parametrize("force", ["durham", "kent", "cumbria", "warwickshire", "met"])
def test_a_census_of_a_years_eligible_victims_reproduces_the_targets(force):
    """Acceptance: a preset's year, census of each survey's eligible victims, every stage.

    - the latent model's census (mean probability of being satisfied over all eligible
      victims) is within 1 point of the target for every survey and stage;
    - the census of drawn answers (1-3 over 1-7) differs from the model's census by no more
      than binomial noise: 3.9 standard errors, a 1% family-wise level over the ~125 survey x
      stage checks of the five presets (Bonferroni). A small survey's drawn census cannot be
      held to 1 point: Durham's hate crime survey has about 800 eligible victims a year, a
      standard error of 1.4 points;
    - pooled over the force's surveys (as Durham and Northumbria publish), the drawn census
      is within 1 point of the (base-weighted) target for every stage.
    """
    v, a = year_of(force)
    c = census_satisfaction(v, force, a)
    print(f"\n{force}\n" + c.round(2).to_string())
    assert len(c) == sum(len(s.stages) for s in load_force(force).surveys)
    assert (c["model"] - c["target"]).abs().max() < 1.0
    bad = c[(c["realised"] - c["model"]).abs() > 3.9 * c["se"]]
    assert bad.empty, bad
    c["sat"] = c["realised"] * c["base"] / 100
    c["tw"] = c["target"] * c["base"]
    pooled = c.groupby("stage")[["sat", "base", "tw"]].sum()
    gap = 100 * pooled["sat"] / pooled["base"] - pooled["tw"] / pooled["base"]
    assert gap.abs().max() < 1.0, gap


def test_durham_published_annual_figures():
    """Durham (docs/sources.md, source 002): whole experience 82, treatment 93, ease of contact 96, follow-up 77."""
    v, a = year_of("durham")
    p = load_force("durham")
    elig = np.zeros(len(v), dtype=bool)
    for s in p.surveys:
        elig |= simple_eligibility(v, s)
    published = {"whole_experience": 82, "treatment": 93, "ease_of_contact": 96, "follow_up": 77}
    for stage, pct in published.items():
        got, base = satisfied_share(a.loc[elig, stage])
        assert base > 15000
        assert abs(got - pct) < 1.0, (stage, got)


def test_kent_published_survey_figures():
    """Kent (docs/sources.md, source 004): hate crime 78.5%, rape 91.4%, domestic abuse 90.0% satisfied."""
    v, a = year_of("kent")
    p = load_force("kent")
    for name, pct in {"hate": 78.5, "rape": 91.4, "domestic_abuse": 90.0}.items():
        elig = simple_eligibility(v, p.survey(name))
        model = 100 * v.loc[elig, "true_p_whole_experience"].mean()
        assert abs(model - pct) < 1.0, (name, model)


def test_minority_ethnic_gap_matches_northumbria():
    """Northumbria's White vs minority-ethnic gap in whole experience: 4.0 points."""
    v, a = year_of("met")
    p = load_force("met")
    elig = np.zeros(len(v), dtype=bool)
    for s in p.surveys:
        elig |= simple_eligibility(v, s)
    e, ans = v[elig], a[elig]
    white, minority = e["ethnicity"].eq("white"), e["ethnicity"].isin(MINORITY)
    assert minority.sum() > 10000
    model_gap = 100 * (
        e.loc[white, "true_p_whole_experience"].mean()
        - e.loc[minority, "true_p_whole_experience"].mean()
    )
    drawn_gap = (
        satisfied_share(ans.loc[white, "whole_experience"])[0]
        - satisfied_share(ans.loc[minority, "whole_experience"])[0]
    )
    assert abs(model_gap - 4.0) < 1.0, model_gap
    assert abs(drawn_gap - 4.0) < 1.0, drawn_gap


def test_stages_correlate_and_whole_experience_goes_with_follow_up():
    v, a = year_of("durham")
    sat = pd.DataFrame({s: (a[s] <= 3).where(a[s] <= 7).astype(float) for s in STAGES}).dropna()
    r = sat.corr()
    assert (r.to_numpy()[np.triu_indices(5, 1)] > 0.1).all(), r
    others = r["whole_experience"].drop("whole_experience")
    assert others.idxmax() == "follow_up", others
    # The latent model: whole experience and follow-up share the kept-informed factor.
    lat = v[[f"true_p_{s}" for s in STAGES]].corr()
    assert lat.loc["true_p_whole_experience", "true_p_follow_up"] > 0.8


# --------------------------------------------------------------------------- the population


def test_profiles_vary_by_offence_and_force():
    v, _ = year_of("kent")
    by = v.groupby("offence_group")
    female = by["gender"].apply(lambda s: s.eq("female").mean())
    assert female["domestic_abuse"] > 0.7 and female["rape"] > 0.85 and female["vehicle"] < 0.5
    age = by["age"].median()
    assert age["fraud"] >= age["violent"] + 10
    known = v[v["ethnicity"] != "unknown"]
    minority = known.groupby("offence_group")["ethnicity"].apply(lambda s: s.isin(MINORITY).mean())
    assert minority["hate"] > 3 * minority["burglary"]
    assert 0.02 < v["age"].isna().mean() < 0.15
    assert 0.03 < v["ethnicity"].eq("unknown").mean() < 0.2
    # The force mix: London far more diverse than County Durham.
    share = {}
    for f in ("met", "durham"):
        k = year_of(f)[0]
        k = k[k["ethnicity"] != "unknown"]
        share[f] = k["ethnicity"].isin(MINORITY).mean()
    assert share["met"] > 0.35 and share["durham"] < 0.08
    # Volumes: Kent's monthly volumes from its preset, about 16,000 victims a month.
    assert 150_000 < len(v) < 230_000
    assert set(v["district"]) == set(load_force("kent").district_names)


def test_extract_follows_the_data_contract():
    v = generate_victims("durham", "2025-02", SEED)
    hidden = [c for c in v.columns if c not in VICTIM_COLUMNS]
    assert list(v.columns[: len(VICTIM_COLUMNS)]) == list(VICTIM_COLUMNS)
    assert hidden and all(c.startswith("true_") for c in hidden)
    assert {f"true_p_{s}" for s in STAGES} <= set(hidden)
    assert set(v["offence_group"]) <= set(OFFENCE_GROUPS)
    assert set(v["gender"]) <= set(GENDERS) and set(v["ethnicity"]) <= set(ETHNICITIES)
    d = v["reported_date"]
    assert d.min() >= pd.Timestamp("2025-02-01") and d.max() <= pd.Timestamp("2025-02-28")
    assert v["age"].dropna().between(0, 120).all() and v["age"].isna().any()
    assert not v.duplicated(["crime_ref", "victim_id"]).any()
    assert v["crime_ref"].str.fullmatch(r"DU/25/\d{6}").all()
    assert v["victim_id"].str.fullmatch(r"DU-P\d{12}").all()
    # A few victims with more than one crime this month; a few crimes with two victims.
    multi = v["victim_id"].duplicated(keep=False).mean()
    assert 0 < multi < 0.05
    assert 0 < v["crime_ref"].duplicated().sum() < 0.03 * len(v)
    for f in VICTIM_FLAGS:
        assert v[f].dtype == bool
    assert 0.02 < v["opted_out"].mean() < 0.08
    pv = v.groupby("offence_group")["police_victim"].mean()
    assert pv["violent"] > 5 * pv["burglary"]
    # Fake personal data only.
    assert v["phone"].dropna().str.fullmatch(r"07700 900\d{3}").all()  # Ofcom drama range
    assert v["email"].dropna().str.endswith("@example.org").all()
    assert v["address"].dropna().str.contains(", ZZ99 ").all()
    for c, lo, hi in [("phone", 0.03, 0.2), ("address", 0.01, 0.06), ("email", 0.4, 0.7)]:
        assert lo < v[c].isna().mean() < hi, c
    assert v["name"].notna().mean() > 0.97


def test_same_seed_same_rows_and_months_are_independent():
    a = generate_victims("kent", "2025-06", 7, scale=0.2)
    b = generate_victims("kent", "2025-06", 7, scale=0.2)
    pd.testing.assert_frame_equal(a, b)
    c = generate_victims("kent", "2025-06", 8, scale=0.2)
    assert not a["crime_ref"].equals(c["crime_ref"]) or not a["age"].equals(c["age"])
    # Other months do not share crime references.
    d = generate_victims("kent", "2025-07", 7, scale=0.2)
    assert not set(a["crime_ref"]) & set(d["crime_ref"])


def test_a_users_own_preset_generates(tmp_path):
    text = resources.files("methods").joinpath("configs", "forces", "warwickshire.toml")
    text = text.read_text().replace('name = "warwickshire"', 'name = "mine"')
    text = text.replace('crime_ref_prefix = "WK"', 'crime_ref_prefix = "MY"')
    path = tmp_path / "mine.toml"
    path.write_text(text)
    p = load_force_file(path)
    v = generate_victims(p, "2025-01", 1, scale=0.5)
    assert v["crime_ref"].str.startswith("MY/25/").all()


def test_bad_arguments_are_refused_clearly():
    with pytest.raises(ConfigError, match="known forces"):
        generate_victims("gotham", "2025-01", 1)
    with pytest.raises(UsageError, match="YYYY-MM"):
        generate_victims("durham", "2025-13", 1)
    with pytest.raises(UsageError, match="seed"):
        generate_victims("durham", "2025-01", -1)
    with pytest.raises(UsageError, match="scale"):
        generate_victims("durham", "2025-01", 1, scale=0)
    with pytest.raises(UsageError, match="increasing"):
        write_synthetic("durham", ["2025-02", "2025-01"], 1, "unused")


def test_months_range():
    assert months_range("2025-11:2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert months_range("2025-03") == ["2025-03"]
    assert len(months_range("2025-01:2025-12")) == 12
    for bad in ["2025-00:2025-03", "2025-05:2025-01", "25-01:25-02", "2025-01:2025-02:2025-03"]:
        with pytest.raises(UsageError):
            months_range(bad)


# --------------------------------------------------------------------------- answers


def test_answers_follow_the_scale_and_the_latent_model():
    v, a = year_of("durham")
    for s in STAGES:
        codes = a[s].dropna()
        assert set(codes.unique()) <= set(range(1, 9))
        assert 0.3 <= codes.eq(8).mean() * 100 <= 6  # some don't know
        pct, base = satisfied_share(a[s])
        truth = 100 * v[f"true_p_{s}"].mean()
        se = 100 * np.sqrt(truth / 100 * (1 - truth / 100) / base)
        assert abs(pct - truth) < 3.29 * se, s
    # Stages not asked are blank.
    fraud = load_force("cumbria").survey("fraud")
    b = draw_answers(v.head(500), SEED, stages=fraud.stages)
    assert b["ease_of_contact"].isna().all() and b["actions"].notna().all()


def test_a_victims_answer_does_not_depend_on_who_else_is_drawn():
    v, a = year_of("durham")
    sub = v.sample(2000, random_state=1)
    b = draw_answers(sub, SEED)
    pd.testing.assert_frame_equal(b, a.loc[sub.index])
    c = draw_answers(v.head(3000), SEED + 1)
    assert not c["whole_experience"].equals(a["whole_experience"].head(3000))


def test_mode_shift_makes_telephone_answers_more_positive():
    v, _ = year_of("durham")
    v = v.head(20000)
    mode = np.where(np.arange(len(v)) % 2 == 0, "telephone", "paper")
    base = draw_answers(v, SEED, mode=mode)
    shifted = draw_answers(v, SEED, mode=mode, mode_shift=0.5)
    tel = mode == "telephone"
    pd.testing.assert_frame_equal(base[~tel], shifted[~tel])  # paper unchanged
    for s in STAGES:
        assert satisfied_share(shifted.loc[tel, s])[0] > satisfied_share(base.loc[tel, s])[0]
        # Never less satisfied: the latent score only moves up.
        valid = base.loc[tel, s].between(1, 7) & shifted.loc[tel, s].between(1, 7)
        assert (shifted.loc[tel, s][valid] <= base.loc[tel, s][valid]).all()


# --------------------------------------------------------------------------- files


def _digest(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_files_are_byte_identical_for_the_same_seed(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    res = write_synthetic("kent", ["2025-04", "2025-05"], SEED, a, scale=0.2)
    write_synthetic("kent", ["2025-04", "2025-05"], SEED, b, scale=0.2)
    assert _digest(a) == _digest(b)
    names = {p.name for p in a.iterdir()}
    expected = {f"victims_{m}.csv" for m in ("2025-04", "2025-05")}
    for s in ("hate", "rape", "domestic_abuse"):
        for m in ("2025-04", "2025-05"):
            expected |= {f"sample_{s}_{m}.csv", f"responses_{s}_{m}.csv"}
    assert names == expected
    assert sum(len(x) for x in res.values()) == len(expected)
    # The victims file of a month does not depend on the months written before it.
    c = tmp_path / "c"
    write_synthetic("kent", ["2025-05"], SEED, c, scale=0.2)
    assert _digest(c)["victims_2025-05.csv"] == _digest(a)["victims_2025-05.csv"]
    # Headers: the contract's columns, nothing hidden.
    assert (a / "victims_2025-04.csv").read_text().splitlines()[0] == ",".join(VICTIM_COLUMNS)
    head = (a / "responses_hate_2025-04.csv").read_text().splitlines()[0]
    assert head == ",".join(RESPONSE_COLUMNS)
    head = (a / "sample_hate_2025-04.csv").read_text().splitlines()[0]
    assert head == "crime_ref,victim_id,inclusion_prob,stratum"


@pytest.fixture(scope="module")
def durham_files(tmp_path_factory):
    out = tmp_path_factory.mktemp("durham")
    write_synthetic("durham", YEAR, SEED, out)  # timed in bench/ingest.py, not here
    return out, None


def _read(out, pattern: str) -> pd.DataFrame:
    frames = []
    for p in sorted(out.glob(pattern)):
        d = pd.read_csv(p, dtype=str, keep_default_na=False)
        d["file"] = p.name
        frames.append(d)
    return pd.concat(frames, ignore_index=True)


def test_samples_are_equal_probability_within_strata(durham_files):
    """The files come from the month pipeline: the frame is methods.eligibility's, one crime
    per victim; sum of 1/pi over the sample recovers the frame's size, and the sample is 15 per
    cent of it."""
    import datetime as dt

    from methods.data.store import Store
    from methods.frame.eligibility import apply

    out, _ = durham_files
    with Store(":memory:") as st:
        st.ingest_victims(out / "victims_2025-01.csv", month="2025-01")
        victims = st.victims("2025-01", personal=True)
        for s in load_force("durham").surveys:
            smp = pd.read_csv(out / f"sample_{s.name}_2025-01.csv")
            assert smp["stratum"].eq(s.offence_groups[0]).all()
            assert smp["inclusion_prob"].nunique() == 1
            frame = apply(victims, s, reference_date=dt.date(2025, 2, 1), store=st).eligible
            # the draw's frame: this one, less victims an earlier survey's draw this month put
            # on the register or in the re-survey history
            n_frame = (1 / smp["inclusion_prob"]).sum()
            assert n_frame == pytest.approx(round(n_frame), abs=1e-6)
            assert len(frame) - 0.01 * len(frame) - 2 <= round(n_frame) <= len(frame)
            assert len(smp) == int(np.floor(0.15 * round(n_frame) + 0.5))  # "15 per cent"
            assert set(smp["crime_ref"]) <= set(frame["crime_ref"])
            # the simple rules of the population model agree to within a few victims
            v = victims.assign(victim_id=victims["victim_id"].astype(str))
            simple = v[simple_eligibility(v, s)].drop_duplicates("victim_id")
            assert abs(len(simple) - len(frame)) <= 0.01 * len(frame) + 2


def test_responses_follow_the_contract(durham_files):
    out, _ = durham_files
    r = _read(out, "responses_*.csv")
    v = _read(out, "victims_*.csv")[["crime_ref", "victim_id", "reported_date"]]
    assert set(r["disposition"]) <= AAPOR
    assert {"1.1", "1.2", "2.11", "2.20", "3.90", "4.10"} <= set(r["disposition"])
    done = r["disposition"].str.startswith("1.")
    assert (r.loc[~done, "interview_date"] == "").all()
    assert (r.loc[~done, list(STAGES)] == "").all().all()
    m = r[done].merge(v, on=["crime_ref", "victim_id"], how="left", validate="m:1")
    days = (pd.to_datetime(m["interview_date"]) - pd.to_datetime(m["reported_date"])).dt.days
    assert days.between(8 * 7, 12 * 7).all()  # Durham: contacted 8-12 weeks after the report
    full = r[r["disposition"] == "1.1"]
    assert (full[list(STAGES)] != "").all().all()
    codes = pd.to_numeric(full[list(STAGES)].stack())
    assert codes.between(1, 8).all()
    assert (r["mode"] == "telephone").all()
    # Telephone response 45-55% (docs/sources.md, source 000).
    rate = done.mean()
    assert 0.45 <= rate <= 0.55, rate
    # Free text, some with fake personal data for the redaction step to find.
    com = r.loc[r["comment"] != "", "comment"]
    assert 0.1 < len(com) / done.sum() < 0.3
    assert com.str.contains(r"07700 900\d{3}").any() and com.str.contains("@example.org").any()
    assert not r.loc[~done, "comment"].ne("").any()


def test_young_and_minority_victims_respond_less(durham_files):
    out, _ = durham_files
    r = _read(out, "responses_*.csv")
    v = _read(out, "victims_*.csv")
    m = r.merge(v, on=["crime_ref", "victim_id"], how="left")
    m = m[m["phone"] != ""]
    done = m["disposition"].str.startswith("1.")
    age = pd.to_numeric(m["age"], errors="coerce")
    assert done[age.between(16, 24)].mean() < done[age >= 55].mean() - 0.05


def test_selection_rules_of_the_other_presets(tmp_path):
    # Met: about 20,000 a year shared by its surveys, equal chance for every eligible victim.
    met = tmp_path / "met"
    write_synthetic("met", YEAR, SEED, met, scale=0.05)
    s = _read(met, "sample_*.csv")
    assert len(s) == 1000  # 20,000 x 0.05, exactly over the year
    # Proportional allocation: each stratum's n_h is its share of the month's n, rounded, so
    # pi_h = n_h / N_h is the month's common fraction to within one unit of rounding.
    s["month"] = s["file"].str[-11:-4]
    s["pi"] = s["inclusion_prob"].astype(float)
    g = s.groupby(["month", "stratum"]).agg(n=("pi", "size"), pi=("pi", "first"))
    g["N"] = g["n"] / g["pi"]
    common = g.groupby("month")["n"].transform("sum") / g.groupby("month")["N"].transform("sum")
    assert ((g["n"] - common * g["N"]).abs() <= 1.0 + 1e-9).all(), g
    # Warwickshire: census of the eligible, and late opt-outs refused before transfer.
    wk = tmp_path / "wk"
    write_synthetic("warwickshire", YEAR[:2], SEED, wk, scale=0.5)
    s = _read(wk, "sample_*.csv")
    assert (s["inclusion_prob"].astype(float) == 1.0).all()
    v = pd.read_csv(wk / "victims_2025-01.csv", dtype={"age": "Int64"})
    for c in VICTIM_FLAGS:
        v[c] = v[c].astype(bool)
    p = load_force("warwickshire")
    n_elig = sum(len(v[simple_eligibility(v, x)].drop_duplicates("victim_id")) for x in p.surveys)
    assert len(s[s["file"].str.endswith("2025-01.csv")]) == n_elig
    r = _read(wk, "responses_*.csv")
    assert 0.45 <= r["disposition"].str.startswith("1.").mean() <= 0.55


def test_kent_sample_sizes_reproduce_the_published_numbers_surveyed(tmp_path):
    """Kent surveyed 177 hate crime, 70 rape and 150 domestic abuse victims in three months."""
    write_synthetic("kent", YEAR, SEED, tmp_path)
    s = _read(tmp_path, "sample_*.csv")
    r = _read(tmp_path, "responses_*.csv")
    p = load_force("kent")
    rate = p.response_rate_map["telephone"]
    for name, per_quarter in {"hate": 177, "rape": 70, "domestic_abuse": 150}.items():
        n = s["file"].str.startswith(f"sample_{name}_").sum()
        assert n == p.selection_for(name)[0].annual_n  # the annual number, exactly
        done = r[r["file"].str.startswith(f"responses_{name}_")]["disposition"].str[:2] == "1."
        se = np.sqrt(n * rate * (1 - rate))
        assert abs(done.sum() - 4 * per_quarter) < 3.29 * se + 4, (name, done.sum())


def test_paper_mode_for_a_users_preset(tmp_path):
    text = resources.files("methods").joinpath("configs", "forces", "durham.toml").read_text()
    text = text.replace('name = "durham"', 'name = "paperforce"')
    text = text.replace('modes = ["telephone"]', 'modes = ["paper", "telephone"]')
    path = tmp_path / "paper.toml"
    path.write_text(text)
    p = load_force_file(path)
    out = tmp_path / "out"
    write_synthetic(p, YEAR[:6], SEED, out)
    r = _read(out, "responses_*.csv")
    paper = r[r["mode"] == "paper"]
    assert len(paper) > 0.9 * len(r)  # paper first for everyone with an address
    rate = paper["disposition"].str.startswith("1.").mean()
    se = np.sqrt(0.22 * 0.78 / len(paper))
    assert abs(rate - 0.22) < 3.29 * se, rate  # paper 20-25% (docs/sources.md, source 000)
    assert "3.10" in set(paper["disposition"])  # nothing returned: unknown eligibility


def test_every_preset_writes_a_month(tmp_path):
    for f in list_forces():
        res = write_synthetic(f, ["2025-09"], SEED, tmp_path / f, scale=0.1)
        assert len(res["samples"]) == len(res["responses"]) == len(load_force(f).surveys)
        for path in res["responses"]:
            d = pd.read_csv(path, dtype=str, keep_default_na=False)
            assert list(d.columns) == list(RESPONSE_COLUMNS)
            assert set(d["disposition"]) <= AAPOR


def test_phone_numbers_never_leave_the_drama_range(durham_files):
    out, _ = durham_files
    text = "".join(p.read_text() for p in out.glob("*.csv"))
    phones = re.findall(r"\b0\d{4} ?\d{6}\b", text)
    assert phones and all(re.fullmatch(r"07700 900\d{3}", p) for p in phones)
    emails = re.findall(r"[\w.]+@[\w.]+", text)
    assert emails and all(e.endswith("@example.org") for e in emails)


def test_dissatisfied_victims_comment_twice_as_often_and_at_more_length(durham_files):
    """Negativity bias of open-ended answers (Poncheri et al. 2008; generate.COMMENT_RATE):
    dissatisfied respondents (whole experience 4-7) comment about twice as often as satisfied
    ones (1-3) and write longer; a victim dissatisfied with being kept informed complains
    about updates. Measured on Durham 2025 (seed 20250101): 17.9% of 1,321 satisfied and 45.9%
    of 266 dissatisfied completes commented (ratio 2.6; 2.1 expected), 17.5 against 22.0 words;
    'update' in 41% of the comments of those dissatisfied with follow-up, 13% of the satisfied."""
    out, _ = durham_files
    r = _read(out, "responses_*.csv")
    r = r[r["disposition"].str.startswith("1.")]
    has = r["comment"] != ""
    whole = pd.to_numeric(r["whole_experience"], errors="coerce")
    sat, dis = whole.between(1, 3), whole.between(4, 7)
    assert sat.sum() > 1000 and dis.sum() > 200
    ratio = has[dis].mean() / has[sat].mean()
    assert 0.14 < has[sat].mean() < 0.24 and 1.6 < ratio < 3.2, (has[sat].mean(), ratio)
    words = r["comment"].str.split().str.len()
    assert words[dis & has].mean() > 1.15 * words[sat & has].mean()
    follow = pd.to_numeric(r["follow_up"], errors="coerce")
    update = r["comment"].str.contains(r"\bupdate", case=False)
    assert update[has & follow.between(4, 7)].mean() > 2 * update[has & follow.between(1, 3)].mean()


def test_comments_change_no_other_column(tmp_path, monkeypatch):
    """Comments come from their own generator: who comments and what they write leave every
    other file and column byte-identical (here: everyone who responds writes a comment)."""
    import methods.synthetic.respond as respond

    a, b = tmp_path / "a", tmp_path / "b"
    write_synthetic("durham", ["2025-03"], SEED, a, scale=0.5)
    monkeypatch.setattr(respond, "comment_probability", lambda ans: np.ones(len(ans)))
    write_synthetic("durham", ["2025-03"], SEED, b, scale=0.5)
    da, db = _digest(a), _digest(b)
    assert da.keys() == db.keys()
    changed = []
    for name in da:
        if name.startswith("responses_"):
            x = pd.read_csv(a / name, dtype=str, keep_default_na=False)
            y = pd.read_csv(b / name, dtype=str, keep_default_na=False)
            pd.testing.assert_frame_equal(x.drop(columns="comment"), y.drop(columns="comment"))
            done = y["disposition"].str.startswith("1.")
            assert (y.loc[done, "comment"] != "").all() and (y.loc[~done, "comment"] == "").all()
            changed.append((x["comment"] != y["comment"]).any())
        else:
            assert da[name] == db[name], name
    assert any(changed)


def test_comment_text_follows_the_stage_answers_and_varies():
    """synthetic_comments: a victim dissatisfied with being kept informed complains about
    updates, one dissatisfied with treatment about rude or dismissive staff, one satisfied
    with treatment praises the officer; phrasings vary (seeded slot choices), about 2% of
    comments say nothing and 2% are in another language or script; same generator state,
    same texts."""
    from methods.synthetic.generate import synthetic_comments

    n = 4000
    rng = np.random.default_rng(11)
    ans = pd.DataFrame({s: rng.integers(1, 8, n) for s in STAGES})
    text = pd.Series(synthetic_comments(ans, np.full(n, "DU/25/1"), np.random.default_rng(3)))
    again = synthetic_comments(ans, np.full(n, "DU/25/1"), np.random.default_rng(3))
    assert list(text) == list(again)
    whole, follow, treat = (ans[s].between(4, 7) for s in ("whole_experience", "follow_up",
                                                           "treatment"))  # fmt: skip
    upd = text.str.contains(r"\bupdate", case=False)
    rude = text.str.contains(r"\brude|dismissive", case=False)
    kind = text.str.contains(r"\bkind\b|professional|polite", case=False)
    print(
        f"\nupdates {upd[whole & follow].mean():.2f} / {upd[whole & ~follow].mean():.2f}, "
        f"rude {rude[whole & treat].mean():.2f} / {rude[whole & ~treat].mean():.2f}, "
        f"kind {kind[~whole & ~treat].mean():.2f} / {kind[~whole & treat].mean():.2f}, "
        f"distinct {text.nunique() / n:.2f}"
    )
    # measured: updates 0.54 / 0.09 (praise of regular updates among the latter), rude 0.38 /
    # 0.02, kind 0.45 / 0.00, distinct 0.86
    assert upd[whole & follow].mean() > 0.4 and upd[whole & ~follow].mean() < 0.15
    assert rude[whole & treat].mean() > 0.25 and rude[whole & ~treat].mean() < 0.05
    assert kind[~whole & ~treat].mean() > 0.35 and kind[~whole & treat].mean() < 0.05
    assert text.nunique() > 0.7 * n  # templates x slots x openers x closers x PII
    blank = ~text.str.contains(r"[^\W\d_]{2}")
    other = text.str.contains(r"[^\x00-\x7f]") & ~blank
    assert 0.01 < blank.mean() < 0.035 and 0.01 < other.mean() < 0.035
