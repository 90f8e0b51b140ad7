"""Themes of redacted comments: TF-IDF + non-negative matrix factorisation, seeded.

Method: comments are redacted (:class:`~methods.comments.redact.Redacted`), the tags removed,
each negation joined to the next content word ("never heard back" -> ``not_heard back``, "not
good enough" -> ``not_good enough``; the NOT_ marking of Das and Chen 2001 and Pang, Lee and
Vaithyanathan 2002, so that "kept me updated" and "never kept me updated" are different terms
while the bare word "not" does not become a theme of its own), and weighted by TF-IDF (scikit-learn ``TfidfVectorizer``: English stop words, 1-2 grams,
``min_df=2``, sublinear tf; Salton and Buckley 1988). The document-term matrix is factorised by
NMF (Lee and Seung 1999; scikit-learn ``NMF`` with NNDSVDa initialisation, Boutsidis and
Gallopoulos 2008, and ``random_state=seed``) into ``n_themes`` themes; each comment goes to the
theme with its largest weight and each theme is named by its three top terms.

Disclosure control (docs/methods.md, "Disclosure control"): a theme with fewer than
``min_comments`` comments is merged into "Other comments", which is itself left out when it is
below the minimum; quotes come only from themes shown, are at most 200 characters, redacted,
and carry no group or district.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sklearn.decomposition import NMF
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

from methods.comments.redact import Redacted
from methods.comments.sentiment import sentiment

__all__ = ["OTHER", "THEME_COLUMNS", "comment_themes", "term_words"]

OTHER = "Other comments"
#: Negations: each is joined to the next content word as ``not_<word>`` (:func:`_mark_negation`).
_NEGATIONS = frozenset(
    {"no", "not", "nor", "never", "nobody", "none", "nothing", "cannot", "cant", "without",
     "didnt", "wasnt", "werent", "dont", "doesnt", "wont", "couldnt", "hadnt", "havent"}
)  # fmt: skip
#: Words that open or pad a comment without saying what it is about ("Honestly, ...").
_FILLERS = frozenset(
    {"honestly", "overall", "sadly", "really", "just", "basically", "totally",
     "did", "got", "get", "month", "months"}
)  # fmt: skip
_STOP_WORDS = sorted(ENGLISH_STOP_WORDS | _NEGATIONS | _FILLERS)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
NEGATED = "not_"


def _mark_negation(text: str) -> str:
    """Lower-cased words with each negation joined to the next content word (``not_<word>``);
    a negation with no content word after it (end of the comment) is dropped."""
    out, pending = [], False
    for w in _WORD.findall(text.lower()):
        w = w.replace("'", "")
        if w in _NEGATIONS:
            pending = True
        elif w in ENGLISH_STOP_WORDS or w in _FILLERS:
            continue
        else:
            out.append(NEGATED + w if pending else w)
            pending = False
    return " ".join(out)


def _fold_plurals(docs: np.ndarray) -> np.ndarray:
    """Plural ``-s`` words folded onto their singular when the singular is also used in the
    comments ("updates" and "update" are one term; "police" or "was" are left alone)."""
    words = {w.removeprefix(NEGATED) for d in docs for w in d.split()}
    fold = {
        w: w[:-1]
        for w in words
        if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")) and w[:-1] in words
    }
    if not fold:
        return docs

    def one(w: str) -> str:
        neg = w.startswith(NEGATED)
        base = fold.get(w.removeprefix(NEGATED), w.removeprefix(NEGATED))
        return NEGATED + base if neg else base

    return np.array([" ".join(one(w) for w in d.split()) for d in docs], dtype=object)


def term_words(term: str) -> str:
    """A term as words for a reader: ``not_heard back`` -> "not heard back"."""
    return term.replace(NEGATED, "not ")


#: Columns of :func:`comment_themes` (``quotes`` is not for the CSV table).
THEME_COLUMNS = (
    "theme",
    "top_terms",
    "comments",
    "share",
    "share_satisfied",
    "share_dissatisfied",
    "mean_sentiment",
    "quotes",
)
_TAG = re.compile(r"\[[a-z]+\]")
_MAX_QUOTE = 200


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object if c in ("theme", "top_terms", "quotes")
                                      else float) for c in THEME_COLUMNS})  # fmt: skip


def comment_themes(
    texts: Redacted | Iterable[object] | pd.Series,
    satisfied: Iterable[object],
    *,
    n_themes: int = 6,
    min_comments: int = 10,
    seed: int = 0,
    n_quotes: int = 3,
) -> pd.DataFrame:
    """Themes of the comments with their shares, sentiment and example quotes.

    Arguments:
        texts: a :class:`Redacted`, or raw comments (redacted here first).
        satisfied: per comment, True (satisfied), False (dissatisfied) or missing (no valid
            answer); same length as ``texts``.
        n_themes: number of NMF components (fewer when there are too few comments or terms).
        min_comments: the minimum base: smaller themes are merged into "Other comments",
            which is dropped when also below it; no theme or quote below it is ever returned.
        seed: NMF ``random_state`` and the quote draw; same inputs and seed, identical output.
        n_quotes: example quotes per theme (at most 200 characters each).

    Returns:
        One row per theme shown, largest first ("Other comments" last): ``theme`` (top three
        terms), ``top_terms`` (top eight, "; "-separated), ``comments``, ``share`` (of the
        comments with text), ``share_satisfied`` and ``share_dissatisfied`` (share of the
        satisfied, resp. dissatisfied, respondents' comments falling in this theme),
        ``mean_sentiment`` (VADER compound) and ``quotes`` (tuple of str). Empty (same
        columns) when fewer than ``min_comments`` comments have text.

    Raises:
        ValueError: lengths differ, or a parameter is out of range.
    """
    red = Redacted.of(texts)
    sat = pd.array(list(satisfied), dtype="boolean")
    if len(sat) != len(red):
        raise ValueError(f"satisfied has {len(sat)} values for {len(red)} comments")
    for name, v, lo in (("n_themes", n_themes, 1), ("min_comments", min_comments, 1),
                        ("n_quotes", n_quotes, 0), ("seed", seed, 0)):  # fmt: skip
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {v!r}")
    raw = red.array()
    clean = np.array([_TAG.sub(" ", t).strip() for t in raw], dtype=object)
    keep = np.array([bool(re.search(r"[^\W\d_]{2}", t)) for t in clean])
    if keep.sum() < min_comments:
        return _empty()
    docs = _fold_plurals(np.array([_mark_negation(t) for t in clean[keep]], dtype=object))
    quotes_src = raw[keep]
    sat_k = sat[keep].to_numpy(dtype=object, na_value=None)
    scores = sentiment(red)[keep]
    n = len(docs)
    vec = TfidfVectorizer(stop_words=_STOP_WORDS, ngram_range=(1, 2), min_df=2, max_df=0.95,
                          sublinear_tf=True, dtype=np.float64,
                          token_pattern=r"(?u)\b\w\w+\b")  # fmt: skip
    try:
        x = vec.fit_transform(docs)
    except ValueError:  # no term left after stop words and min_df
        x = None
    label = np.full(n, OTHER, dtype=object)
    weight = np.zeros(n)
    terms_of: dict[str, str] = {}
    if x is not None and x.shape[1] >= 2:
        k = int(min(n_themes, x.shape[1], n - 1))
        model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=1000)
        w = model.fit_transform(x)
        vocab = vec.get_feature_names_out()
        names = []
        for row in model.components_:
            top = [term_words(t) for t in vocab[np.argsort(-row, kind="stable")[:8]]]
            names.append((", ".join(top[:3]), "; ".join(top)))
        best = np.argmax(w, axis=1)
        weight = w[np.arange(n), best]
        has = weight > 0
        label[has] = np.array([names[b][0] for b in best[has]], dtype=object)
        terms_of = dict(names)
    counts = pd.Series(label).value_counts()
    small = [t for t, c in counts.items() if t != OTHER and c < min_comments]
    label[np.isin(label, small)] = OTHER
    themes = sorted({t for t in label if t != OTHER},
                    key=lambda t: (-(label == t).sum(), t))  # fmt: skip
    if (label == OTHER).sum() >= min_comments:
        themes.append(OTHER)
    n_sat = sum(s is True for s in sat_k)
    n_dis = sum(s is False for s in sat_k)
    rows = []
    for j, t in enumerate(themes):
        idx = np.flatnonzero(label == t)
        in_sat = sum(sat_k[i] is True for i in idx)
        in_dis = sum(sat_k[i] is False for i in idx)
        rows.append({
            "theme": t,
            "top_terms": terms_of.get(t, ""),
            "comments": len(idx),
            "share": len(idx) / n,
            "share_satisfied": in_sat / n_sat if n_sat else np.nan,
            "share_dissatisfied": in_dis / n_dis if n_dis else np.nan,
            "mean_sentiment": float(scores[idx].mean()),
            "quotes": _quotes(quotes_src[idx], weight[idx], n_quotes, seed, j),
        })  # fmt: skip
    if not rows:
        return _empty()
    out = pd.DataFrame(rows, columns=list(THEME_COLUMNS))
    out["comments"] = out["comments"].astype("int64")
    return out


def _quotes(texts: np.ndarray, weight: np.ndarray, n: int, seed: int, j: int) -> tuple[str, ...]:
    """Up to ``n`` short quotes from the theme's ten most typical distinct comments (largest NMF weight),
    drawn with ``default_rng([seed, 0xC0, j])`` and returned in the typical-first order."""
    ok = np.flatnonzero([len(t) <= _MAX_QUOTE and t.strip() != "" for t in texts])
    if n == 0 or not len(ok):
        return ()
    order = ok[np.lexsort((np.arange(len(ok)), -weight[ok]))]
    first: dict[str, int] = {}
    for i in order:  # distinct texts, most typical first
        first.setdefault(str(texts[i]).strip(), int(i))
    distinct = list(first.values())[:10]
    rng = np.random.default_rng([seed, 0xC0, j])
    pick = np.sort(rng.choice(len(distinct), size=min(n, len(distinct)), replace=False))
    return tuple(str(texts[distinct[p]]).strip() for p in pick)
