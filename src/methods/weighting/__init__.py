"""Weighting engine: post-stratification, raking, calibration and trimming of a SurveyDesign.

Every function takes a :class:`methods.design.survey.SurveyDesign` first and returns a NEW design
(the input is never changed); they are also attached as methods, so ``design.rake(...)`` and
``methods.weighting.rake(design, ...)`` are the same call. This module is the public face;
the work is done in

* :mod:`methods.weighting.nonresponse`: ``adjust_nonresponse`` (weighting / propensity classes);
* :mod:`methods.weighting.calibrate`: ``poststratify``, ``rake``, ``calibrate``;
* :mod:`methods.weighting.trim`: ``trim``;
* :mod:`methods.weighting.diagnostics`: ``diagnostics`` and the two plotting helpers;
* :mod:`methods.weighting.core`: the array algorithms (IPF on cells, R's ``grake`` Newton);
* :mod:`methods.weighting.variance`: the step records and their variance adjustments.

Typical use::

    d = SurveyDesign(sample, weights="w", strata="offence_group", fpc="N")
    d = d.adjust_nonresponse("responded", cells=["offence_group", "age_group"])
    d = d.rake({"age_group": age_totals, "gender": gender_totals, "ethnicity": eth_totals})
    d = d.trim(upper=5 * np.median(d.weights))        # re-rakes to the same margins
    methods.weighting.diagnostics(d).summary           # n_eff, deff_w, CV, quantiles

Each step appends a record to ``design.steps`` that (a) adjusts the linearised
influence values the way R's ``survey:::svyrecvar`` does for ``design$postStrata`` (see
:mod:`methods.weighting.variance`) and (b) remembers what the step did, for
:func:`diagnostics` and ``trim(recalibrate=True)``. On replicate designs every replicate's
weights are re-weighted by the same procedure, as R's ``postStratify``/``rake``/``calibrate``
methods for ``svyrep.design`` do.

Sources: R package ``survey`` (Lumley), functions ``postStratify``, ``rake``, ``calibrate``,
``grake``, ``regcalibrate``, ``trimWeights`` and ``svyrecvar``; Deming and Stephan (1940);
Deville and Sarndal (1992); Kalton and Flores-Cervantes (2003), J. Official Statistics 19:81-97.
"""

from __future__ import annotations

from methods.core.errors import ConvergenceError
from methods.design.survey import SurveyDesign as _SurveyDesign
from methods.weighting.calibrate import calibrate, poststratify, rake
from methods.weighting.core import InfeasibleCalibrationError
from methods.weighting.diagnostics import (
    WeightingDiagnostics,
    diagnostics,
    plot_profile,
    plot_weight_distribution,
)
from methods.weighting.nonresponse import CellsCollapsedWarning, adjust_nonresponse
from methods.weighting.trim import trim
from methods.weighting.variance import WeightingStep

__all__ = [
    "CellsCollapsedWarning",
    "ConvergenceError",
    "InfeasibleCalibrationError",
    "WeightingDiagnostics",
    "WeightingStep",
    "adjust_nonresponse",
    "attach",
    "calibrate",
    "diagnostics",
    "history",
    "plot_profile",
    "plot_weight_distribution",
    "poststratify",
    "rake",
    "trim",
]


def history(design) -> tuple[WeightingStep, ...]:
    """The weighting steps applied to ``design``, oldest first.

    Each is a :class:`methods.weighting.variance.WeightingStep` with ``kind``, ``spec``,
    ``w_in``, ``w_out``, ``factors`` and ``info`` (iterations, gaps, merged cells, ...).
    """
    return tuple(s for s in design.steps if isinstance(s, WeightingStep))


def attach(cls) -> None:
    """Attach the weighting verbs to a SurveyDesign class (``design.rake(...)`` etc.)."""
    cls.adjust_nonresponse = adjust_nonresponse
    cls.poststratify = poststratify
    cls.rake = rake
    cls.calibrate = calibrate
    cls.trim = trim


# The verbs become SurveyDesign methods as soon as this package is imported (SurveyDesign loads
# it on first use of a verb: design sits below weighting in the layers and never imports it).
attach(_SurveyDesign)
