"""Themes of comments (TF-IDF + NMF): hand-counted shares, disclosure control, reproducibility.

References: on a corpus of two topics with no shared content words, each comment's theme is
known, so the table's counts and shares are hand counts (written below); on synthetic comments
(methods.synthetic.generate.synthetic_comments) every complaint theme (updates, rude staff,
case closed, no arrest) is said mostly by dissatisfied respondents and every praise theme by
satisfied ones.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from methods.comments.redact import Redacted
from methods.comments.themes import OTHER, THEME_COLUMNS, comment_themes
from methods.core.schema import STAGES
from methods.synthetic.generate import synthetic_comments

UPDATES = ["No updates about my case at all", "Never got updates about the case",
           "Case updates never came", "No case updates, nothing"]  # fmt: skip
KIND = ["Officer was kind and polite", "Kind polite officer", "The officer was very kind",
        "Polite officer, kind manner"]  # fmt: skip


def _two_topics():
    # 30 updates comments (24 dissatisfied, 6 satisfied), 20 kind comments (all satisfied)
    texts = [UPDATES[i % 4] for i in range(30)] + [KIND[i % 4] for i in range(20)]
    sat = [False] * 24 + [True] * 6 + [True] * 20
    return texts, sat


def test_hand_counted_shares_on_two_topics():
    texts, sat = _two_topics()
    t = comment_themes(texts, sat, n_themes=2, min_comments=10).set_index("theme")
    assert list(t.columns) == list(THEME_COLUMNS[1:])
    upd = t.loc[[i for i in t.index if "updates" in i or "case" in i][0]]
    kind = t.loc[[i for i in t.index if "kind" in i or "officer" in i or "polite" in i][0]]
    assert (upd["comments"], kind["comments"]) == (30, 20)
    assert upd["share"] == pytest.approx(30 / 50) and kind["share"] == pytest.approx(20 / 50)
    assert upd["share_dissatisfied"] == pytest.approx(24 / 24)
    assert upd["share_satisfied"] == pytest.approx(6 / 26)
    assert kind["share_satisfied"] == pytest.approx(20 / 26)
    assert kind["mean_sentiment"] > upd["mean_sentiment"]
    for q in upd["quotes"]:
        assert q in UPDATES
    assert len(upd["quotes"]) == 3 and len(set(upd["quotes"])) == 3


def test_same_inputs_same_bytes():
    texts, sat = _two_topics()
    a = comment_themes(texts, sat, n_themes=3, seed=4)
    b = comment_themes(list(texts), list(sat), n_themes=3, seed=4)
    assert a.to_csv(index=False).encode() == b.to_csv(index=False).encode()
    assert a.to_json().encode() == b.to_json().encode()


def test_small_themes_merged_or_suppressed():
    texts, sat = _two_topics()  # themes of 30 (updates) and 20 (kind) comments
    t = comment_themes(texts, sat, n_themes=2, min_comments=20)
    assert sorted(t["comments"]) == [20, 30] and OTHER not in set(t["theme"])
    t = comment_themes(texts, sat, n_themes=2, min_comments=21)
    # the 20 go to "Other comments", itself below 21: left out, with their quotes
    assert list(t["comments"]) == [30] and OTHER not in set(t["theme"])
    assert not [q for qs in t["quotes"] for q in qs if q in KIND]
    more = texts + [KIND[0]] * 1
    t = comment_themes(more, sat + [True], n_themes=2, min_comments=21)
    assert sorted(t["comments"]) == [21, 30]
    t = comment_themes(texts, sat, n_themes=2, min_comments=51)  # too few for any theme
    assert t.empty and list(t.columns) == list(THEME_COLUMNS)
    assert comment_themes(["fine"] * 5, [True] * 5, min_comments=10).empty


def test_quotes_short_redacted_and_only_from_shown_themes():
    rng = np.random.default_rng(3)
    n = 600
    base = rng.integers(1, 8, n)
    ans = pd.DataFrame({s: np.clip(base + rng.integers(-1, 2, n), 1, 7) for s in STAGES})
    text = list(synthetic_comments(ans, np.full(n, "DU/25/000123"), rng, pii_share=0.5))
    text[0] = "x" * 10_000  # very long, other scripts, empty, all PII: no failure
    text[1], text[2], text[3] = "Полиция не перезвонила", "", "07700 900123 a@example.org"
    sat = ans["whole_experience"].to_numpy() <= 3
    t = comment_themes(text, sat, n_themes=6, min_comments=10, seed=1)
    assert len(t) >= 4 and (t["comments"] >= 10).all()
    assert t["share"].sum() <= 1 + 1e-12
    quotes = [q for qs in t["quotes"] for q in qs]
    assert quotes and all(len(q) <= 200 for q in quotes)
    pii = re.compile(r"07700|@example|ZZ99|DU/25|PC [A-Z]")
    assert not [q for q in quotes if pii.search(q)]
    red = set(Redacted.of(text).texts)
    assert all(q in red for q in quotes)
    by = t.set_index("theme")
    complaint = [i for i in by.index if re.search(r"update|rude|dismissive|closed|arrest", i)]
    praise = [i for i in by.index if re.search(r"kind|professional|polite|informed", i)]
    assert complaint and praise, list(by.index)
    for c in complaint:  # every complaint theme said mostly by the dissatisfied, and the reverse
        assert by.loc[c, "share_dissatisfied"] > 2 * by.loc[c, "share_satisfied"], c
    for p in praise:
        assert by.loc[p, "share_satisfied"] > 2 * by.loc[p, "share_dissatisfied"], p
    assert by.loc[praise, "mean_sentiment"].min() > by.loc[complaint, "mean_sentiment"].max()
    print("\n" + t.drop(columns="quotes").to_string())


def test_bad_arguments():
    with pytest.raises(ValueError, match="satisfied has 1 values for 2"):
        comment_themes(["a", "b"], [True])
    with pytest.raises(ValueError, match="min_comments"):
        comment_themes(["a"], [True], min_comments=0)
