"""Sentiment of redacted comments: VADER's compound score.

VADER (Hutto and Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis
of Social Media Text", ICWSM-14; package vaderSentiment 3.3) scores a text from a bundled
lexicon with rules for negation, intensifiers, capitals and punctuation; ``compound`` is the
normalised sum in [-1, 1]. Offline, no model download.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import pandas as pd
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from methods.comments.redact import Redacted

__all__ = ["sentiment"]


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


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
