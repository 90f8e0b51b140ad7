"""Synthetic response behaviour: who answers, how, and what the fieldwork files look like.

The synthetic builder (:mod:`methods.workflows.synthetic`) generates a month's victims
(:func:`methods.synthetic.generate.generate_victims`), draws the sample with the same pipeline
``vsw sample`` uses (:func:`methods.workflows.month.draw_month`), and then calls
:func:`respond` in the contractor's place: it returns the responses file a contractor would
send back (docs/data_contract.md section 2).

Fieldwork model: the first of the survey's modes the victim has contact details for; response
propensity logistic in age band, gender, ethnicity and the victim's latent satisfaction (young
and minority-ethnic victims respond less; not missing at random), its intercept solved so the
expected rate equals the preset's rate for that mode; AAPOR final dispositions (1.1, 1.2, 2.11,
2.12, 2.20, 2.30, 3.10, 3.90, 4.10; AAPOR Standard Definitions 2023); interview dates inside
the contact window; free-text comments, about twice as often from dissatisfied victims
(:data:`methods.synthetic.generate.COMMENT_RATE`), some with fake personal data to exercise
redaction, drawn from their own generator.
"""

from __future__ import annotations

import warnings
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit

from methods.config.presets import ForcePreset, SurveyDef
from methods.core.io import write_table
from methods.core.schema import ETHNICITIES, GENDERS, RESPONSE_COLUMNS, STAGES
from methods.synthetic.generate import (
    _AGE_LO,
    _R_AGE,
    _R_ETH,
    _R_GENDER,
    _R_U,
    _UNKNOWN_AGE,
    comment_probability,
    draw_answers,
    row_keys,
    synthetic_comments,
)


def _contactable(v: pd.DataFrame, modes: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """First mode of ``modes`` each victim can be reached by, and whether any can."""
    need = {"telephone": "phone", "paper": "address", "web": "email"}
    mode = np.full(len(v), modes[0], dtype=object)
    ok = np.zeros(len(v), dtype=bool)
    for m in reversed(modes):
        has = v[need[m]].notna().to_numpy()
        mode = np.where(has, m, mode)
        ok |= has
    return mode.astype(str), ok


_NONRESPONSE = {  # AAPOR final dispositions of contactable non-respondents, by mode
    "telephone": (("2.11", "2.12", "2.20", "2.30", "3.90", "4.10"),
                  (0.32, 0.03, 0.50, 0.04, 0.03, 0.08)),
    "paper": (("3.10", "2.11", "2.30", "4.10"), (0.85, 0.06, 0.03, 0.06)),
    "web": (("3.10", "2.11", "2.12", "4.10"), (0.88, 0.04, 0.03, 0.05)),
}  # fmt: skip
_LATE_OPTOUT = 0.015  # share opting out between selection and transfer (before_transfer)
_PARTIAL = 0.03
_COMMENT_PII = 0.20


def _skip_legacy_comment_draws(rng: np.random.Generator, n: int) -> None:
    """Take the draws the comment code before issue 15 took from the fieldwork stream, in the
    same order and with the same bounds, so the stream continues exactly where it did."""
    rng.random(n)  # had personal data
    rng.integers(0, 5, n)  # phrase
    rng.integers(0, 4, n)  # template
    rng.integers(0, 2, n)  # gender of the name
    rng.random(n)  # first name
    rng.integers(0, 50, n)  # surname
    rng.integers(0, 1000, n)  # phone digits


def _comment_rng(
    v: pd.DataFrame, preset: ForcePreset, survey: SurveyDef, seed: int
) -> np.random.Generator:
    """The comments' own generator: ``SeedSequence([seed, 0xC0, crc32(force), crc32(survey),
    key digest])``, the digest being the XOR of the sampled cases' 64-bit keys, so each survey
    and month has its own comments and no other synthetic column depends on them."""
    keys = row_keys(v)
    digest = int(np.bitwise_xor.reduce(keys)) if len(keys) else 0
    parts = [seed, 0xC0, zlib.crc32(preset.name.encode()), zlib.crc32(survey.name.encode()),
             digest & 0xFFFFFFFF, digest >> 32]  # fmt: skip
    return np.random.default_rng(np.random.SeedSequence(parts))


def respond(
    v: pd.DataFrame,
    survey: SurveyDef,
    preset: ForcePreset,
    rng: np.random.Generator,
    seed: int,
    mode_shift: float,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Simple synthetic fieldwork for the sampled victims ``v``.

    Returns the docs/data_contract.md section 2 rows and the ids of victims who opted out between
    selection and transfer (``optout_timing = before_transfer``).
    """
    n = len(v)
    mode, reachable = _contactable(v, survey.modes)
    age = v["age"].to_numpy(dtype=float, na_value=np.nan)
    band = np.where(np.isnan(age), _UNKNOWN_AGE, np.searchsorted(_AGE_LO, age, side="right") - 1)
    x = (_R_AGE[band.astype(int)] + _R_GENDER[pd.Index(GENDERS).get_indexer(v["gender"])]
         + _R_ETH[pd.Index(ETHNICITIES).get_indexer(v["ethnicity"])]
         + _R_U * v["true_u"].to_numpy())  # fmt: skip
    rho = np.zeros(n)
    rates = preset.response_rate_map
    for m in np.unique(mode):
        sel = mode == m
        ok = sel & reachable
        target = rates[m] * sel.sum()
        if ok.sum() <= target:
            warnings.warn(
                f"{preset.name}/{survey.name}: only {ok.sum()} of {sel.sum()} {m} cases are "
                f"contactable, below the {rates[m]:.0%} response rate; all of them respond",
                stacklevel=3,
            )
            rho[ok] = 1.0
            continue
        xs = x[ok]
        a = brentq(lambda a, xs=xs, t=target: expit(a + xs).sum() - t, -30, 30, xtol=1e-10)
        rho[ok] = expit(a + xs)
    responded = rng.random(n) < rho
    late = np.zeros(n, dtype=bool)
    if preset.optout_timing == "before_transfer":
        late = rng.random(n) < _LATE_OPTOUT
        responded &= ~late
    partial = responded & (rng.random(n) < _PARTIAL)
    disp = np.full(n, "3.90", dtype=object)  # no contact details for any mode: unknown, other
    u_nr = rng.random(n)
    for m, (codes, probs) in _NONRESPONSE.items():
        sel = (mode == m) & reachable & ~responded
        cdf = np.cumsum(probs) / np.sum(probs)
        k = np.minimum(np.searchsorted(cdf, u_nr[sel], side="right"), len(codes) - 1)
        disp[sel] = np.array(codes)[k]
    disp[late] = "2.11"
    disp[responded] = "1.1"
    disp[partial] = "1.2"
    lo, hi = survey.contact_window_weeks
    offset = rng.integers(7 * lo, 7 * hi + 1, n).astype("timedelta64[D]")
    reported = v["reported_date"].to_numpy().astype("datetime64[D]")
    interview = np.where(responded, np.datetime_as_string(reported + offset, unit="D"), None)

    ans = draw_answers(v, seed, mode=mode, mode_shift=mode_shift, stages=survey.stages)
    asked = list(survey.stages)
    k = rng.integers(1, max(len(asked), 2), n)  # partials answer the first k stages asked
    for i, s in enumerate(asked):
        keep = responded & ~(partial & (i >= k))
        ans[s] = ans[s].where(keep)
    for s in STAGES:
        if s not in asked:
            ans[s] = ans[s].where(np.zeros(n, dtype=bool))

    # Free-text comments, some with (fake) personal data to exercise redaction later. Who writes
    # one (more often the dissatisfied, synthetic.generate.COMMENT_RATE) and the text both come
    # from the comments' own generator; the draws the earlier comment code made from the
    # fieldwork stream (who wrote, then the text) are still taken and discarded, so the
    # fieldwork stream, and every other column of later surveys, is unchanged.
    rng.random(n)  # who wrote a comment, before the comments had their own generator
    _skip_legacy_comment_draws(rng, n)
    text = np.full(n, "", dtype=object)
    has = np.zeros(n, dtype=bool)
    if responded.any():
        crng = _comment_rng(v, preset, survey, seed)
        stage_answers = ans[list(STAGES)].reset_index(drop=True)
        has = responded & (crng.random(n) < comment_probability(stage_answers))
        text[has] = synthetic_comments(
            stage_answers.loc[has].reset_index(drop=True),
            v["crime_ref"].to_numpy()[has],
            crng,
            pii_share=_COMMENT_PII,
        )
    comment = np.where(has, text, None)

    out = pd.DataFrame(
        {
            "crime_ref": v["crime_ref"].to_numpy(),
            "victim_id": v["victim_id"].to_numpy(),
            "mode": mode,
            "disposition": disp.astype(str),
            "interview_date": pd.array(interview, dtype="str"),
            **{s: ans[s].to_numpy() for s in STAGES},
            "comment": pd.array(comment, dtype="str"),
        }
    )
    for s in STAGES:
        out[s] = pd.array(out[s], dtype="Int64")
    assert tuple(out.columns) == RESPONSE_COLUMNS
    return out, v["victim_id"].to_numpy()[late]


# --------------------------------------------------------------------------- writing files


def write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write a CSV deterministically: ISO dates, true/false, blanks for missing, LF endings.

    Written by :func:`methods.core.io.write_table`, the workbench's one CSV writer (formula
    cells neutralised).
    """
    out = df.copy()
    for c in out.columns:
        col = out[c]
        if pd.api.types.is_bool_dtype(col):
            out[c] = np.where(col.to_numpy(), "true", "false")
        elif pd.api.types.is_datetime64_any_dtype(col):
            out[c] = col.dt.strftime("%Y-%m-%d")
    write_table(out, path, float_format="%.10g")
