"""How many victims a month's sample takes: the preset's selection rule turned into a number.

A force preset gives each survey (or the force as a whole) one selection rule
(``methods.config``): a census, a sampling ``fraction``, or an ``annual_n`` spread evenly over
the year. An annual number shared by several surveys is divided among them in proportion to
their eligible victims (proportional allocation, largest remainders), so every eligible
victim of those surveys has the same chance of selection (Cochran 1977, section 5.5).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from methods.sampling.selection import allocate


@dataclass(frozen=True)
class MonthSize:
    """The size of one survey's sample in one month.

    Attributes:
        rule: plain description of the rule applied (recorded in the audit log).
        n: number of victims to select (None with a fraction or a census).
        fraction: sampling fraction (None unless the rule is a fraction).
        census: whether every eligible victim is taken.
    """

    rule: str
    n: int | None = None
    fraction: float | None = None
    census: bool = False


def monthly_share(annual: float, month: str) -> int:
    """Month ``YYYY-MM``'s share of an annual number, rounded so that twelve months sum to it.

    The cumulative target ``annual * m / 12`` is rounded half up and differenced, so each month
    gets ``annual / 12`` to the nearest whole number and a calendar year adds up exactly.
    """
    m = int(str(month)[5:7])
    return int(math.floor(annual * m / 12 + 0.5) - math.floor(annual * (m - 1) / 12 + 0.5))


def month_size(preset, survey: str, month: str, frame_sizes: Mapping[str, int]) -> MonthSize:
    """The sample size of ``survey`` in ``month`` under ``preset``'s selection rule.

    Arguments:
        preset: a :class:`methods.config.ForcePreset`.
        survey: the survey's name.
        month: ``YYYY-MM``.
        frame_sizes: eligible victims this month of ``survey`` and, for a force-wide annual
            number, of every other survey sharing it (by survey name).
    """
    sel, scope = preset.selection_for(survey)
    if sel.rule == "census":
        return MonthSize(rule="census", census=True)
    if sel.rule == "fraction":
        return MonthSize(rule=f"fraction {sel.fraction:g}", fraction=float(sel.fraction))
    total = monthly_share(float(sel.annual_n), month)
    if scope != "force":
        return MonthSize(rule=f"annual {sel.annual_n:,}: {total} this month", n=int(total))
    sharing = [s.name for s in preset.surveys if preset.selection_for(s.name)[1] == "force"]
    sizes = {name: int(frame_sizes[name]) for name in sharing}
    total = min(total, sum(sizes.values()))
    n = allocate(sizes, total, "proportional")[survey] if total else 0
    return MonthSize(
        rule=(
            f"annual {sel.annual_n:,} shared by {len(sizes)} surveys: {total} this month, "
            f"{n} for {survey}"
        ),
        n=int(n),
    )
