"""The report's "What victims said" section: themes, sentiment and quotes from redacted comments.

Order of work (issue 15): the free-text comments are redacted first
(:class:`methods.comments.redact.Redacted`: names, phone numbers, emails, postcodes, street
addresses, vehicle registrations, crime references), and only the redacted texts reach the
themes (:func:`methods.comments.themes.comment_themes`, seeded TF-IDF + NMF) and the sentiment
scores (VADER, :func:`methods.comments.sentiment.sentiment`).

Themes are found separately in the comments of satisfied and of dissatisfied victims (by their
answer at ``stage``), so that what disappointed the few is not drowned by what pleased the many;
when either group has fewer than ``min_base`` comments, one set of themes is found in all
comments instead. The ``victims`` column of the table says which.

Disclosure control: a theme with fewer than ``min_count`` comments is merged into "Other
comments" (left out if that is still below it); quotes are shown only for themes with at least
``min_base`` comments, and never with the respondent's group or district (none is passed on).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.comments.redact import Redacted
from methods.comments.sentiment import sentiment
from methods.comments.themes import comment_themes
from methods.report.disclosure import MIN_BASE_COUNT, MIN_BASE_PERCENT

__all__ = ["COMMENT_COLUMNS", "CommentSummary", "comment_summary", "theme_label"]

#: Columns of the report's ``comment_themes`` table.
COMMENT_COLUMNS = ("victims", "theme", "top_terms", "comments", "share", "share_satisfied",
                   "share_dissatisfied", "mean_sentiment")  # fmt: skip


class CommentSummary:
    """The section's figures: ``themes`` (the CSV table), ``quotes`` ((victims, theme) -> tuple
    of redacted quotes, only for themes at or above the minimum base), ``n_comments``,
    ``sentiment_satisfied`` / ``sentiment_dissatisfied`` (mean VADER compound) and
    ``n_satisfied`` / ``n_dissatisfied`` (comments by the whole-experience answer)."""

    def __init__(self, themes, quotes, n_comments, sentiment_by, n_by):
        self.themes = themes
        self.quotes = quotes
        self.n_comments = n_comments
        self.sentiment_satisfied, self.sentiment_dissatisfied = sentiment_by
        self.n_satisfied, self.n_dissatisfied = n_by


def theme_label(theme: str) -> str:
    """A theme named by its top terms ("kind; explained; officer") as words for a reader."""
    if "; " not in theme:
        return theme
    terms = [t.strip() for t in theme.split(";") if t.strip()]
    return ", ".join(terms[:-1]) + f" and {terms[-1]}" if len(terms) > 1 else terms[0]


def comment_summary(
    responses: pd.DataFrame,
    *,
    stage: str = "whole_experience",
    min_base: int = MIN_BASE_PERCENT,
    min_count: int = MIN_BASE_COUNT,
    seed: int = 0,
    n_themes: int = 5,
) -> CommentSummary:
    """Themes and sentiment of the comments in ``responses`` (with ``comment`` and
    ``sat_<stage>``: 1 satisfied, 0 dissatisfied, NaN no valid answer).

    The comments are redacted before anything else reads them; the raw column is not kept.
    ``themes`` has :data:`COMMENT_COLUMNS`: ``victims`` is "satisfied" or "dissatisfied"
    (themes found within that group's comments; the dissatisfied get ``max(2, n_themes - 2)``
    themes, being fewer) or "all" (one set of themes in every comment, when a group has fewer
    than ``min_base`` comments). ``share`` is of all comments with text; ``share_satisfied``
    and ``share_dissatisfied`` are of the satisfied, resp. dissatisfied, victims' comments (a
    theme found among one group holds none of the other's, so its other share is 0).
    """
    has = responses["comment"].notna() & responses["comment"].astype("str").str.strip().ne("")
    rows = responses.loc[has.to_numpy(dtype=bool)]
    texts = Redacted.of(rows["comment"])  # redaction first
    sat = rows[f"sat_{stage}"].to_numpy(dtype=float)
    satisfied = [None if np.isnan(s) else bool(s == 1) for s in sat]
    pos, neg = sat == 1, sat == 0
    if min(pos.sum(), neg.sum()) >= min_base:
        parts = []
        for who, mask, k in (("satisfied", pos, n_themes), ("dissatisfied", neg,
                                                            max(2, n_themes - 2))):  # fmt: skip
            sub = texts.take(np.flatnonzero(mask))
            t = comment_themes(sub, [who == "satisfied"] * len(sub), n_themes=k,
                               min_comments=min_count, seed=seed)  # fmt: skip
            own = t["comments"] / mask.sum()
            parts.append(t.assign(victims=who, share=t["comments"] / len(texts),
                                  share_satisfied=own if who == "satisfied" else 0.0,
                                  share_dissatisfied=own if who != "satisfied" else 0.0))  # fmt: skip
        table = pd.concat(parts, ignore_index=True)
    else:
        table = comment_themes(texts, satisfied, n_themes=n_themes, min_comments=min_count,
                               seed=seed).assign(victims="all")  # fmt: skip
    quotes = {
        (r.victims, r.theme): tuple(r.quotes)
        for r in table.itertuples()
        if r.comments >= min_base and r.quotes
    }
    scores = sentiment(texts) if len(texts) else np.zeros(0)
    n_by = (int(pos.sum()), int(neg.sum()))
    means = tuple(
        float(scores[m].mean()) if m.sum() >= min_count else float("nan") for m in (pos, neg)
    )
    themes = table[list(COMMENT_COLUMNS)].reset_index(drop=True)
    return CommentSummary(themes, quotes, len(texts), means, n_by)
