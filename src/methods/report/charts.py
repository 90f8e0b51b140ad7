"""Charts of the monthly report: stages, trends and domains, with suppressed figures marked.

Matplotlib, sized and lettered to be readable in print; a suppressed figure is drawn as a
hatched placeholder or an open circle and explained in a note at the foot of the chart
(docs/methods.md, disclosure control). :mod:`methods.report.tables` re-exports these names.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.report.disclosure import MIN_BASE_PERCENT, SUPPRESSED_MARK

#: Print-readable chart text sizes (points) and the hatched placeholder of a suppressed figure.
FONT = {"label": 10, "tick": 10, "title": 11, "note": 9}
#: Colour-blind-safe palette (Okabe and Ito 2008, "Color Universal Design"): blue, orange,
#: bluish green, vermillion, sky blue; every chart of the report draws from it in this order.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9")
SUPPRESSED_STYLE = {"facecolor": "#e6e6e6", "edgecolor": "#7f7f7f", "hatch": "///", "lw": 0.8}


def _figure_note(fig, text: str) -> None:
    """Write ``text`` under the axes, inside the figure (space reserved by tight_layout)."""
    fig.text(0.01, 0.01, text, ha="left", va="bottom", fontsize=FONT["note"], wrap=True)


def _finish(fig, note: str | None) -> None:
    """Lay the figure out so no label is clipped, leaving a strip at the foot for the note."""
    if note:
        lines = 1 + len(note) // 110
        height = fig.get_size_inches()[1]
        fig.tight_layout(rect=(0, (0.2 * lines + 0.1) / height, 1, 1))
        _figure_note(fig, note)
    else:
        fig.tight_layout()


def plot_stage_estimates(
    table: pd.DataFrame, title: str = "", ax=None, min_base: int = MIN_BASE_PERCENT
):
    """Horizontal bars of percent satisfied per stage with 95% CI whiskers.

    Arguments:
        table: a stage table (:func:`stage_estimates`); ``n_suppressed`` is honoured if present.
        title: chart title; ax: axes to draw on (default: a new figure).
        min_base: the percentage threshold, named in the marks.

    Returns:
        The figure. A suppressed stage is drawn as a light grey hatched placeholder across the
        whole scale, labelled "suppressed (base n < min_base)", and a note at the foot of the
        figure says what the hatching means (docs/methods.md, disclosure control).
    """
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(table) + 1.6), dpi=100)
    else:
        fig = ax.figure
    y = np.arange(len(table))[::-1]
    est = table["estimate"].to_numpy(dtype=float) * 100
    lo = table["ci_low"].to_numpy(dtype=float) * 100
    hi = table["ci_high"].to_numpy(dtype=float) * 100
    sup = table["suppressed"].to_numpy(dtype=bool) | ~np.isfinite(est)
    ok = ~sup
    ax.barh(y[ok], est[ok], color=PALETTE[0], height=0.6)
    ax.errorbar(
        est[ok],
        y[ok],
        xerr=[est[ok] - lo[ok], hi[ok] - est[ok]],
        fmt="none",
        color="black",
        capsize=3,
        lw=1,
    )
    if sup.any():
        ax.barh(y[sup], 100, height=0.6, label="suppressed", **SUPPRESSED_STYLE)
    n_hidden = (
        table["n_suppressed"].to_numpy(dtype=bool)
        if "n_suppressed" in table
        else np.zeros(len(table), dtype=bool)
    )
    for yi, e, h, n, s, nh in zip(y, est, hi, table["n"], sup, n_hidden):
        if s:
            ax.text(
                2,
                yi,
                f"suppressed (base n < {min_base})",
                va="center",
                fontsize=FONT["note"],
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
        else:
            base = SUPPRESSED_MARK if nh else f"{int(n)}"
            x = min(max(e, h if np.isfinite(h) else e) + 1.5, 101)
            ax.text(x, yi, f"{e:.1f}%  (n={base})", va="center", fontsize=FONT["note"])
    ax.set_yticks(y, table["label"], fontsize=FONT["tick"])
    ax.tick_params(axis="x", labelsize=FONT["tick"])
    ax.set_xlim(0, 125)
    ax.set_xticks(np.arange(0, 101, 20))
    ax.set_xlabel("% satisfied (95% CI)", fontsize=FONT["label"])
    if title:
        ax.set_title(title, fontsize=FONT["title"], loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    note = (
        f"Hatched grey: suppressed, unweighted base below {min_base} (disclosure control)."
        if sup.any()
        else None
    )
    _finish(fig, note)
    return fig


def plot_trend(
    trends: dict[int, pd.DataFrame], title: str = "", ax=None, min_base=MIN_BASE_PERCENT
):
    """Lines of percent satisfied by month with shaded 95% CI bands, one per rolling window.

    Suppressed months (base below ``min_base``) are left as gaps and marked with an open
    circle at the foot of the chart; the legend names them and a note at the foot of the figure
    says what they mean (docs/methods.md, disclosure control).
    """
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    if ax is None:
        fig, ax = plt.subplots(figsize=(9, 4.6), dpi=100)
    else:
        fig = ax.figure
    colours = list(PALETTE)
    any_sup = False
    for k, ((window, t), colour) in enumerate(zip(sorted(trends.items()), colours)):
        if t.empty:
            continue
        x = np.arange(len(t))
        est = 100 * t["estimate"].to_numpy(dtype=float)
        ax.plot(x, est, marker="o", color=colour, label=f"{window}-month rolling")
        ax.fill_between(
            x,
            100 * t["ci_low"].to_numpy(dtype=float),
            100 * t["ci_high"].to_numpy(dtype=float),
            color=colour,
            alpha=0.2,
        )
        sup = t["suppressed"].to_numpy(dtype=bool)
        if sup.any():
            any_sup = True
            ax.scatter(
                x[sup],
                np.full(sup.sum(), 3.0 + 4.0 * k),  # one row of circles per window
                marker="o",
                s=40,
                facecolors="none",
                edgecolors=colour,
                label=f"{window}-month: suppressed\n(base n < {min_base})",
            )
        ax.set_xticks(x, t["month"], rotation=45, ha="right", fontsize=FONT["tick"])
    ax.set_ylim(0, 100)
    ax.tick_params(axis="y", labelsize=FONT["tick"])
    ax.set_ylabel("% satisfied (95% CI)", fontsize=FONT["label"])
    if title:
        ax.set_title(title, fontsize=FONT["title"], loc="left")
    # Outside the axes, so that it never hides a line or a suppression mark.
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=FONT["note"], frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    note = (
        f"Open circles at the foot: month suppressed, unweighted base below {min_base} "
        "(disclosure control); the line has a gap there."
        if any_sup
        else None
    )
    _finish(fig, note)
    return fig


def plot_domains(
    table: pd.DataFrame,
    by: str,
    title: str = "",
    ax=None,
    min_base: int = MIN_BASE_PERCENT,
):
    """Dot and 95% CI whisker of percent satisfied for each level of ``by`` (e.g. district).

    Arguments:
        table: a :func:`domain_table` (``estimate, ci_low, ci_high, n, suppressed``).
        by: the domain column; title, ax: as in :func:`plot_stage_estimates`.
        min_base: the percentage threshold, named in the note.

    Returns:
        The figure. Suppressed levels are not drawn: their row holds a hatched placeholder
        marked "suppressed", and a note at the foot says why (base below ``min_base``, or
        secondary suppression so that a suppressed figure cannot be worked out).
    """
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 0.38 * len(table) + 1.7), dpi=100)
    else:
        fig = ax.figure
    y = np.arange(len(table))[::-1]
    est = 100 * table["estimate"].to_numpy(dtype=float)
    lo = 100 * table["ci_low"].to_numpy(dtype=float)
    hi = 100 * table["ci_high"].to_numpy(dtype=float)
    sup = table["suppressed"].to_numpy(dtype=bool) | ~np.isfinite(est)
    ok = ~sup
    ax.errorbar(
        est[ok],
        y[ok],
        xerr=[est[ok] - lo[ok], hi[ok] - est[ok]],
        fmt="o",
        color=PALETTE[0],
        ecolor="black",
        capsize=3,
        lw=1,
        ms=6,
    )
    if sup.any():
        ax.barh(y[sup], 100, height=0.5, **SUPPRESSED_STYLE)
        for yi in y[sup]:
            ax.text(
                2,
                yi,
                "suppressed",
                va="center",
                fontsize=FONT["note"],
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1},
            )
    ax.set_yticks(y, table[by].astype(str), fontsize=FONT["tick"])
    ax.tick_params(axis="x", labelsize=FONT["tick"])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% satisfied (95% CI)", fontsize=FONT["label"])
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.set_axisbelow(True)
    if title:
        ax.set_title(title, fontsize=FONT["title"], loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    note = (
        f"Hatched grey: suppressed, unweighted base below {min_base}, or suppressed so that "
        "another suppressed figure cannot be worked out (disclosure control)."
        if sup.any()
        else None
    )
    _finish(fig, note)
    return fig


def plot_comment_themes(themes: pd.DataFrame, title: str = "", labels=None, ax=None):
    """Horizontal bars: each theme's share of its group's comments (``victims``: satisfied,
    dissatisfied or all, as :func:`methods.report.comment_report.comment_summary` found them),
    satisfied victims' themes first, largest at the top of each group.

    ``labels`` maps a theme to the words shown (default: the theme itself).
    """
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    k = len(themes)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7.5, 0.45 * k + 1.6), dpi=100)
    else:
        fig = ax.figure
    y = np.arange(k)[::-1]
    names = [labels(t) if labels else t for t in themes["theme"]]
    v = themes["victims"].to_numpy()
    share = 100 * np.where(v == "satisfied", themes["share_satisfied"],
                           np.where(v == "dissatisfied", themes["share_dissatisfied"],
                                    themes["share"])).astype(float)  # fmt: skip
    groups = {"satisfied": ("Satisfied victims", PALETTE[0]),
              "dissatisfied": ("Dissatisfied victims", PALETTE[3]),
              "all": ("All victims", PALETTE[1])}  # fmt: skip
    victims = themes["victims"].to_numpy()
    for key, (name, colour) in groups.items():
        m = victims == key
        if m.any():
            ax.barh(y[m], np.nan_to_num(share[m]), height=0.7, color=colour, label=name)
    ax.set_yticks(y, names, fontsize=FONT["tick"])
    ax.set_xlabel("% of the group's comments", fontsize=FONT["label"])
    ax.set_xlim(0, max(10.0, float(np.nanmax(np.r_[share, 0])) * 1.15))
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(fontsize=FONT["note"], frameon=False, loc="lower right")
    if title:
        ax.set_title(title, fontsize=FONT["title"], loc="left")
    _finish(fig, None)
    return fig
