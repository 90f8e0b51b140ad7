"""Sentiment of redacted comments: VADER's compound score.

VADER (Hutto and Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis
of Social Media Text", ICWSM-14; package vaderSentiment 3.3) scores a text from a bundled
lexicon with rules for negation, intensifiers, capitals and punctuation; ``compound`` is the
normalised sum in [-1, 1]. Offline, no model download. The lexicon gains a few words of
complaint about a service that it lacks (:data:`DOMAIN_LEXICON`).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from methods.comments.redact import Redacted

__all__ = ["sentiment"]


#: Words victims use about a police service that VADER's lexicon lacks (it scores "chased for
#: updates" or "dismissive" as neutral), valences set by analogy with its own entries:
#: ``ignored`` -1.3, ``ignore`` -1.5, ``useless`` -1.8, ``rude`` -2.0, ``delayed`` -0.9.
DOMAIN_LEXICON: dict[str, float] = {
    "chase": -1.3, "chased": -1.3, "chasing": -1.3,
    "dismissive": -1.8, "dismissed": -1.3, "fobbed": -1.8, "stonewalled": -1.8,
    "unhelpful": -1.8, "uninterested": -1.3, "unanswered": -1.3, "abrupt": -1.2,
    "pointless": -1.8, "slow": -0.9, "waiting": -0.9, "waited": -0.9,
}  # fmt: skip


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    sia = SentimentIntensityAnalyzer()
    sia.lexicon.update(DOMAIN_LEXICON)
    return sia


def sentiment(texts: Redacted | Iterable[object] | pd.Series) -> np.ndarray:
    """VADER compound score per comment (float array, in [-1, 1]; 0 for an empty comment).

    Arguments:
        texts: a :class:`~methods.comments.redact.Redacted`, or raw comments, which are
            redacted first (nothing here reads unredacted text).
    """
    red = Redacted.of(texts)
    sia = _analyzer()
    return np.array([sia.polarity_scores(t)["compound"] if t.strip() else 0.0
                     for t in red.texts], dtype=float)  # fmt: skip
