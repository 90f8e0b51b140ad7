"""The report's comment section: themes found separately among satisfied and dissatisfied
victims, with shares that are hand counts on a corpus whose themes are known.

Reference: each comment below is written for one theme, with no content word shared between
themes, so every count and share is known from the construction (written next to it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from methods.report.comment_report import COMMENT_COLUMNS, comment_summary

KIND = ["Officer was kind and polite", "Kind polite officer", "The officer was very kind"]
QUICK = ["Quick response, came the same evening", "Very quick response indeed",
         "Came quickly, quick response"]  # fmt: skip
UPDATES = ["No updates about my case at all", "Never got updates about the case",
           "Case updates never came"]  # fmt: skip
RUDE = ["Call handler was rude and dismissive", "Rude dismissive attitude",
        "The staff were rude, dismissive"]  # fmt: skip


def _responses(n_kind=24, n_quick=16, n_updates=20, n_rude=12, n_blank=5):
    texts = ([KIND[i % 3] for i in range(n_kind)] + [QUICK[i % 3] for i in range(n_quick)]
             + [UPDATES[i % 3] for i in range(n_updates)] + [RUDE[i % 3] for i in range(n_rude)])  # fmt: skip
    sat = [1.0] * (n_kind + n_quick) + [0.0] * (n_updates + n_rude)
    texts += [""] * n_blank
    sat += [np.nan] * n_blank
    return pd.DataFrame({"comment": texts, "sat_whole_experience": sat})


def test_themes_found_within_each_verdict_with_hand_counted_shares():
    v = comment_summary(_responses(), min_base=30, min_count=10, n_themes=2)
    t = v.themes
    assert tuple(t.columns) == COMMENT_COLUMNS
    assert v.n_comments == 72 and (v.n_satisfied, v.n_dissatisfied) == (40, 32)
    sat, dis = t[t["victims"] == "satisfied"], t[t["victims"] == "dissatisfied"]
    assert sorted(sat["comments"]) == [16, 24] and sorted(dis["comments"]) == [12, 20]
    upd = dis.loc[dis["comments"] == 20].iloc[0]
    assert "updates" in upd["theme"] or "not updates" in upd["theme"]
    assert upd["share"] == pytest.approx(20 / 72)
    assert upd["share_dissatisfied"] == pytest.approx(20 / 32) and upd["share_satisfied"] == 0
    kind = sat.loc[sat["comments"] == 24].iloc[0]
    assert kind["share_satisfied"] == pytest.approx(24 / 40) and kind["share_dissatisfied"] == 0
    assert dis["mean_sentiment"].max() < sat["mean_sentiment"].min()
    # quotes only for themes with at least min_base (30) comments: none here
    assert v.quotes == {}


def test_one_set_of_themes_when_a_group_is_below_the_minimum_base():
    v = comment_summary(_responses(n_updates=15, n_rude=10), min_base=30, min_count=10,
                        n_themes=4)  # fmt: skip
    assert set(v.themes["victims"]) == {"all"}
    assert v.themes["comments"].sum() <= 65
    assert v.themes["share"].sum() == pytest.approx(v.themes["comments"].sum() / 65)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_synthetic_comments_give_named_themes_and_dissatisfied_quotes(seed):
    """On a year-sized synthetic corpus (1,700 completes, 80% satisfied; comment rates and
    texts from methods.synthetic.generate) the dissatisfied victims write enough for a theme
    at the 30-comment quote base, every theme is named by words of what it is about (no
    "person, gave"), and every dissatisfied theme reads more negative than every satisfied one.
    Measured (seeds 1-3): 132-153 dissatisfied comments, largest dissatisfied theme 58-97."""
    from methods.core.schema import STAGES
    from methods.synthetic.generate import comment_probability, synthetic_comments

    rng = np.random.default_rng(seed)
    n = 1700
    happy = rng.random(n) < 0.8
    base = np.where(happy, rng.integers(1, 4, n), rng.integers(4, 8, n))
    ans = pd.DataFrame({s: np.clip(base + rng.integers(-1, 2, n), 1, 7) for s in STAGES})
    ans["whole_experience"] = base
    has = rng.random(n) < comment_probability(ans)
    text = synthetic_comments(ans[has].reset_index(drop=True), np.full(has.sum(), "DU/25/1"), rng)
    v = comment_summary(
        pd.DataFrame({"comment": text, "sat_whole_experience": happy[has].astype(float)}),
        min_base=30, min_count=10, seed=seed,
    )  # fmt: skip
    assert 1.6 < has[~happy].mean() / has[happy].mean() < 2.8  # about twice as often (2.1)
    t = v.themes
    sat, dis = t[t["victims"] == "satisfied"], t[t["victims"] == "dissatisfied"]
    assert len(sat) >= 4 and len(dis) >= 2
    praise = r"kind|professional|polite|listened|quick|support|informed|kept|regular|took|communication"
    complaint = r"update|rude|dismissive|closed|arrest|attend|wait|seriously|call|crime|contact|visit"
    assert sat["theme"].str.contains(praise).all(), list(sat["theme"])
    assert dis["theme"].str.contains(complaint).all(), list(dis["theme"])
    assert dis["comments"].max() >= 30
    assert [k for k in v.quotes if k[0] == "dissatisfied"]
    assert dis["mean_sentiment"].max() < sat["mean_sentiment"].min()
