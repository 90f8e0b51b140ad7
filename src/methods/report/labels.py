"""What a report's reader sees: every code, column and figure in plain English, in one place.

The keys are the data contract's codes (docs/data_contract.md sections 1 to 3: offence groups,
modes, exclusion rules, stages, weighting variables and the report tables' columns); the values
are the words a board paper would use. Numbers are formatted as a statistician would: whole
percentages in running text, one decimal in tables, intervals as "72% (68% to 76%)", changes in
percentage points with a sign.

Nothing here computes an estimate: the report's tables are built from the figures, then passed
through :func:`label` / :func:`headers` for display. The published CSV tables keep the codes
(they are data, documented in the contract); only what is rendered for reading uses this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from methods.core.periods import month_label
from methods.core.schema import STAGE_LABELS

__all__ = [
    "COLUMN_LABELS",
    "LABELS",
    "STAGE_LABELS",
    "ci_text",
    "headers",
    "label",
    "month_label",
    "pct",
    "pct1",
    "phrase",
    "points",
    "significance",
    "step_label",
    "yes_no",
]

#: Plain-English labels by kind of code; keys are the data contract's codes.
LABELS: dict[str, dict[str, str]] = {
    "stage": dict(STAGE_LABELS),
    "offence_group": {
        "burglary": "Burglary",
        "vehicle": "Vehicle crime",
        "violent": "Violent crime",
        "hate": "Hate crime",
        "asb": "Anti-social behaviour",
        "fraud": "Fraud",
        "domestic_abuse": "Domestic abuse",
        "stalking_harassment": "Stalking and harassment",
        "rape": "Rape",
        "rtc": "Road traffic collisions",
    },
    "mode": {"telephone": "Telephone", "paper": "Paper (post)", "web": "Online"},
    "gender_w": {"female": "Women", "male": "Men", "other/unknown": "Other or not known"},
    "gender": {"female": "Women", "male": "Men", "other": "Other", "unknown": "Not known"},
    "ethnic_group": {
        "white": "White",
        "minority ethnic": "Minority ethnic",
        "unknown": "Not known",
    },
    "ethnicity": {
        "white": "White",
        "mixed": "Mixed",
        "asian": "Asian",
        "black": "Black",
        "other": "Other ethnic group",
        "unknown": "Not known",
    },
    "age_band": {
        "16-24": "Aged 16 to 24",
        "25-34": "Aged 25 to 34",
        "35-54": "Aged 35 to 54",
        "55-74": "Aged 55 to 74",
        "75+": "Aged 75 and over",
        "unknown": "Age not known",
    },
    # the grouping variables themselves
    "variable": {
        "age_band": "Age",
        "gender_w": "Gender",
        "gender": "Gender",
        "ethnic_group": "Ethnic group",
        "ethnicity": "Ethnicity",
        "offence_group": "Offence",
        "district": "District",
        "survey": "Survey",
        "mode": "Interview mode",
    },
    # exclusion rules (config.presets.EXCLUSION_RULES) and the steps of the flow of victims
    "step": {
        "victims in month": "Victims of crime recorded in the month",
        "sampled units": "Victims sampled",
        "offence group not covered by the survey": "Offence not covered by this survey",
        "opted_out": "Asked not to be surveyed",
        "under_min_age": "Younger than the minimum age",
        "vulnerable": "Recorded as vulnerable",
        "no_further_action_requested": "Asked for no further police action",
        "uncooperative": "Not supporting the investigation",
        "sensitive": "Sensitive or serious case",
        "police_victim": "Police officer or staff on duty",
        "outside_contact_window": "Could not be contacted in time",
        "resurveyed_within_months": "Surveyed recently",
        "optout_register": "On the register of people who never want to be surveyed",
        "another case of the same victim this month": "Another case of the same victim this month",
        "eligible": "Eligible to be surveyed",
    },
    # weighting diagnostics rows
    "weights": {"input": "Before weighting", "final": "After weighting"},
}

#: Display headers of the report tables' columns (data contract section 3 names as keys).
COLUMN_LABELS: dict[str, str] = {
    "estimate": "Satisfied",
    "ci": "95% confidence interval",
    "ci_low": "Lower 95% limit",
    "ci_high": "Upper 95% limit",
    "n": "Respondents",
    "stage": "Stage",
    "label": "Stage",
    "survey": "Survey",
    "period": "Period",
    "mode": "Interview mode",
    "issued": "Victims sampled",
    "completes": "Interviews",
    "RR1": "Response rate",
    "RR3": "Response rate (estimated eligible)",
    "now": "This period",
    "then": "Comparison period",
    "change": "Change (points)",
    "p_value": "Significance",
    "significant": "Significant change",
    "comparison": "Compared with",
    "white": "White victims",
    "minority": "Minority-ethnic victims",
    "gap": "Gap (points)",
    "n_white": "White respondents",
    "n_minority": "Minority-ethnic respondents",
    "district": "District",
    "n_eff": "Effective sample size",
    "deff_w": "Design effect of weighting",
    "cv": "Coefficient of variation of the weights",
    "min": "Smallest weight",
    "max": "Largest weight",
    "sum": "Sum of weights",
    "victims": "Victims",
}

_RULE_WITH_PARAM = re.compile(r"^(?P<rule>[a-z_]+) \((?P<value>\d+)\)$")


def label(kind: str, code: object) -> str:
    """The plain-English label of ``code`` of the given kind (a key of :data:`LABELS`).

    A code with no label is returned with underscores as spaces and a capital first letter,
    so a new code never shows in its raw form.
    """
    text = str(code)
    table = LABELS.get(kind, {})
    if text in table:
        return table[text]
    plain = text.replace("_", " ").strip()
    return plain[:1].upper() + plain[1:]


#: How a group is named inside a sentence ("... women 82% against men 85% ...").
_PHRASES: dict[str, dict[str, str]] = {
    "ethnic_group": {"white": "White victims", "minority ethnic": "minority-ethnic victims"},
    "age_band": {
        "16-24": "victims aged 16 to 24",
        "25-34": "victims aged 25 to 34",
        "35-54": "victims aged 35 to 54",
        "55-74": "victims aged 55 to 74",
        "75+": "victims aged 75 and over",
    },
    "gender_w": {"female": "women", "male": "men"},
}


def phrase(kind: str, code: object) -> str:
    """A group named for running text: "victims aged 75 and over", "White victims",
    "burglary victims"."""
    text = str(code)
    if text in _PHRASES.get(kind, {}):
        return _PHRASES[kind][text]
    if kind in ("offence_group", "survey"):
        return f"{label('offence_group', text).lower()} victims"
    return label(kind, text).lower()


def step_label(step: str) -> str:
    """A step of the flow of victims, e.g. ``"under_min_age (16)"`` -> "Younger than 16"."""
    m = _RULE_WITH_PARAM.match(step)
    if m:
        rule, value = m["rule"], int(m["value"])
        if rule == "under_min_age":
            return f"Younger than {value}"
        if rule == "resurveyed_within_months":
            return f"Surveyed in the last {value} months"
        return f"{label('step', rule)} ({value})"
    return label("step", step)


def headers(columns: Iterable[str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Display headers for ``columns`` (:data:`COLUMN_LABELS`, then ``extra``)."""
    table = {**COLUMN_LABELS, **(extra or {})}
    return {c: table.get(c, label("variable", c)) for c in columns}


def _ok(x: object) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def pct(x: object) -> str:
    """A proportion as a whole percentage for running text: 0.7234 -> "72%"; missing -> ""."""
    return f"{100 * float(x):.0f}%" if _ok(x) else ""


def pct1(x: object) -> str:
    """A proportion as a percentage to one decimal for tables: 0.7234 -> "72.3%"."""
    return f"{100 * float(x):.1f}%" if _ok(x) else ""


def ci_text(est: object, lo: object, hi: object, decimals: int = 0) -> str:
    """An estimate with its interval: "72% (68% to 76%)" (``decimals`` for the percentages)."""
    if not (_ok(est) and _ok(lo) and _ok(hi)):
        return ""
    f = f"{{:.{decimals}f}}%"
    return (
        f"{f.format(100 * float(est))} ({f.format(100 * float(lo))} to {f.format(100 * float(hi))})"
    )


def points(x: object, decimals: int = 1) -> str:
    """A difference of proportions in percentage points with its sign: 0.014 -> "+1.4"."""
    if not _ok(x):
        return ""
    v = 100 * float(x)
    if round(v, decimals) == 0:
        return f"{0:.{decimals}f}"
    return f"{v:+.{decimals}f}".replace("-", "\u2212")


def significance(p: object, alpha: float = 0.05) -> str:
    """A p-value in words: "Significant (p < 0.001)", "Not significant (p = 0.36)"."""
    if not _ok(p):
        return ""
    p = float(p)
    shown = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return f"{'Significant' if p < alpha else 'Not significant'} ({shown})"


def yes_no(flag: object) -> str:
    """True/False as "Yes"/"No" (missing as "")."""
    if flag is None or (isinstance(flag, float) and math.isnan(flag)):
        return ""
    return "Yes" if bool(flag) else "No"
