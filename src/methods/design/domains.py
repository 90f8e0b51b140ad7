"""Domain views (R ``svyby``) and comparisons of independent estimates."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from methods.core.errors import UsageError
from methods.design.columns import binary_column, domain_codes, numeric_column

if TYPE_CHECKING:
    from methods.design.survey import SurveyDesign


class DomainView:
    """Estimators by domain (from :meth:`SurveyDesign.by`): one output row per level.

    The whole design is kept: rows outside a domain are zeroed out, never dropped, so the
    variance sees every stratum and PSU (R ``svyby``). Domains with no members or a single
    respondent get NaN SE (and a warning), never an error.
    """

    def __init__(self, design: SurveyDesign, col: str | Sequence[str]):
        self._design = design
        self._by = col
        self._codes, self._index = domain_codes(design._data, col)
        self._cache: dict = {}  # degrees of freedom of these domains

    @property
    def levels(self) -> pd.Index:
        """The domain labels, in output order."""
        return self._index

    def _many(self, kind, cols, df, conf_level, deff) -> pd.DataFrame:
        return self._design._estimate_many_by(
            kind,
            cols,
            self._codes,
            self._index,
            df=df,
            conf_level=conf_level,
            deff=deff,
            cache=self._cache,
        )

    def mean(
        self,
        col: str | Sequence[str],
        *,
        df: Any = None,
        conf_level: float = 0.95,
        deff: bool | str = True,
    ) -> pd.DataFrame:
        """Domain means (R ``svyby(~col, ~by, design, svymean, na.rm=TRUE, deff=TRUE)``);
        arguments as :meth:`SurveyDesign.mean`. Several columns (or a factor) give one row
        per domain with columns ``(statistic, variable)`` and the joint covariance in
        ``attrs["vcov"]`` (R ``svyby(~a+b, ..., covmat=TRUE)``; see
        :meth:`SurveyDesign._estimate_many_by`)."""
        if not self._design._single_numeric(col):
            return self._many("mean", col, df, conf_level, deff)
        y = numeric_column(self._design._data, col)
        return self._design._estimate(
            "mean",
            y,
            self._codes,
            self._index,
            df=df,
            conf_level=conf_level,
            cache=self._cache,
            deff=deff,
        )

    def total(
        self,
        col: str | Sequence[str],
        *,
        df: Any = None,
        conf_level: float = 0.95,
        deff: bool | str = True,
    ) -> pd.DataFrame:
        """Domain totals (R ``svyby(..., svytotal)``); several columns as :meth:`mean`."""
        if not self._design._single_numeric(col):
            return self._many("total", col, df, conf_level, deff)
        y = numeric_column(self._design._data, col)
        return self._design._estimate(
            "total",
            y,
            self._codes,
            self._index,
            df=df,
            conf_level=conf_level,
            cache=self._cache,
            deff=deff,
        )

    def ratio(
        self,
        num: str,
        den: str,
        *,
        df: Any = None,
        conf_level: float = 0.95,
        deff: bool | str = True,
    ) -> pd.DataFrame:
        """Domain ratios (R ``svyby(~num, ~by, design, svyratio, denominator=~den)``)."""
        data = self._design._data
        y, x = numeric_column(data, num), numeric_column(data, den)
        return self._design._estimate(
            "ratio",
            y,
            self._codes,
            self._index,
            x=x,
            df=df,
            conf_level=conf_level,
            cache=self._cache,
            deff=deff,
        )

    def proportion(
        self, col: str, ci: str = "logit", level: Any = None, *, conf_level: float = 0.95
    ) -> pd.DataFrame:
        """Domain proportions (R ``svyby(~col, ~by, design, svyciprop, vartype="ci")``); the
        t quantile uses each domain's own degrees of freedom, as R does."""
        y = binary_column(self._design._data, col, level)
        return self._design._estimate(
            "proportion",
            y,
            self._codes,
            self._index,
            ci=ci,
            conf_level=conf_level,
            cache=self._cache,
        )

    def var(
        self, col: str | Sequence[str], *, df: Any = None, conf_level: float = 0.95
    ) -> pd.DataFrame:
        """Domain population variances (R ``svyby(~col, ~by, design, svyvar)``); see
        :meth:`SurveyDesign.var`.

        Several columns (R ``svyby(~a+b, ~by, design, svyvar)``): each domain's k x k matrix,
        one row per domain and columns ``(statistic, "a:b")`` in R's column-major order. As
        R's svyby, each domain is the design's ``subset()`` (:meth:`SurveyDesign.keep_rows`:
        every stage as sampled, the domain variance; replicate designs keep the domain's rows
        and their replicate weights), and :meth:`SurveyDesign.var` of it. The covariance
        between domains is not computed (``attrs["vcov_omitted"]``); each domain's is
        ``d.keep_rows(mask, weights).var(cols).attrs["vcov"]``.
        """
        if not isinstance(col, str):
            return self._var_many(list(col), df, conf_level)
        y = numeric_column(self._design._data, col)
        return self._design._domain_var(
            y, self._codes, self._index, df=df, conf_level=conf_level, cache=self._cache
        )

    def _var_many(self, cols: list[str], df: Any, conf_level: float) -> pd.DataFrame:
        design = self._design
        if design.steps:
            raise NotImplementedError(
                "by(...).var over several columns of a weighted (calibrated, raked, adjusted) "
                "design: R zeroes the weights outside each domain there; call var per column"
            )
        w = design.weights
        rep = design.replicate_weights
        rows, names = [], None
        for k in range(len(self._index)):
            keep = self._codes == k
            if not keep.any():
                raise UsageError(f"domain {self._index[k]!r} has no rows")
            sub = design.keep_rows(
                keep, w[keep], replicate_weights=None if rep is None else rep[keep]
            )
            out = sub.var(cols, df=df, conf_level=conf_level)
            names = list(out.index)
            rows.append(out[["estimate", "se", "ci_low", "ci_high"]].to_numpy().T.ravel())
        columns = pd.MultiIndex.from_product(
            [["estimate", "se", "ci_low", "ci_high"], names], names=["statistic", "variable"]
        )
        res = pd.DataFrame(np.vstack(rows), index=self._index, columns=columns)
        res.attrs.update(
            statistic="var",
            conf_level=conf_level,
            vcov_omitted="the covariance between domains' variance matrices is not computed",
        )
        return res

    def quantile(
        self,
        col: str,
        probs: float | Sequence[float] = 0.5,
        *,
        qrule: str = "math",
        interval_type: str = "mean",
        ci: bool = True,
        conf_level: float = 0.95,
        df: Any = None,
    ) -> pd.DataFrame:
        """Domain quantiles (R ``svyby(~col, ~by, design, svyquantile, ...)``): each domain's
        rows alone, its own degrees of freedom; arguments as :meth:`SurveyDesign.quantile`,
        index (domain, quantile)."""
        y = numeric_column(self._design._data, col)
        by = [self._by] if isinstance(self._by, str) else list(self._by)
        return self._design._quantile(
            y,
            self._codes,
            self._index,
            probs,
            qrule=qrule,
            interval_type=interval_type,
            ci=ci,
            conf_level=conf_level,
            df=df,
            cache=self._cache,
            names=by,
        )

    def compare(
        self, col: str, a: Any, b: Any, *, level: Any = None, conf_level: float = 0.95
    ) -> pd.DataFrame:
        """:meth:`SurveyDesign.compare` for this view's ``by`` column."""
        if not isinstance(self._by, str):
            raise UsageError("compare needs a single by column")
        return self._design.compare(col, self._by, a, b, level=level, conf_level=conf_level)


def compare_independent(
    est_a: pd.DataFrame | pd.Series | dict,
    est_b: pd.DataFrame | pd.Series | dict,
    *,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Difference between estimates from two independent samples (e.g. two survey periods).

    Arguments:
        est_a, est_b: estimator outputs (DataFrames with ``estimate`` and ``se``; rows are
            matched on the index, so two ``by`` tables compare domain by domain), or Series /
            dicts with ``estimate`` and ``se``.
        conf_level: confidence level.

    Returns:
        DataFrame ``estimate`` (a - b), ``se``, ``ci_low``, ``ci_high``, ``statistic`` (z),
        ``p_value``.

    Notes:
        Independent samples have zero covariance, so ``se = sqrt(se_a^2 + se_b^2)`` with a
        normal reference distribution (Kish 1965, Survey Sampling, sec. 14.1; the same rule
        as comparing two independent ``svystat`` objects with ``svycontrast`` on a
        block-diagonal covariance). Use :meth:`SurveyDesign.compare` for two domains of one
        sample, whose covariance is not zero.
    """

    def frame(e: Any) -> pd.DataFrame:
        if isinstance(e, pd.DataFrame):
            return e[["estimate", "se"]]
        if isinstance(e, pd.Series | dict):
            return pd.DataFrame({"estimate": [e["estimate"]], "se": [e["se"]]})
        raise UsageError("compare_independent takes estimator DataFrames, Series or dicts")

    if not 0.0 < conf_level < 1.0:
        raise UsageError(f"conf_level must be in (0, 1), got {conf_level}")
    fa, fb = frame(est_a), frame(est_b)
    if len(fa) == 1 and len(fb) == 1:
        fb = fb.set_axis(fa.index)
    if not fa.index.equals(fb.index):
        common = fa.index.intersection(fb.index)
        if len(common) == 0:
            raise UsageError("the two estimates share no index labels (domains)")
        dropped = len(fa) + len(fb) - 2 * len(common)
        if dropped:
            warnings.warn(
                f"{dropped} domain(s) present in only one estimate are left out",
                UserWarning,
                stacklevel=2,
            )
        fa, fb = fa.loc[common], fb.loc[common]
    diff = fa["estimate"].to_numpy(float) - fb["estimate"].to_numpy(float)
    se = np.hypot(fa["se"].to_numpy(float), fb["se"].to_numpy(float))
    q = stats.norm.ppf(1.0 - (1.0 - conf_level) / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = diff / se
    out = pd.DataFrame(
        {
            "estimate": diff,
            "se": se,
            "ci_low": diff - q * se,
            "ci_high": diff + q * se,
            "statistic": z,
            "p_value": 2.0 * stats.norm.sf(np.abs(z)),
        },
        index=fa.index,
    )
    out.attrs.update(statistic="difference", ci="normal", conf_level=conf_level)
    return out


def level_index(labels: pd.Index, value: Any, by: str) -> int:
    """Position of domain ``value`` among ``labels`` (UsageError if absent)."""
    hits = np.flatnonzero(labels == value)
    if hits.size == 0:
        shown = ", ".join(map(repr, list(labels[:20])))
        raise UsageError(f"{value!r} is not a level of '{by}' (levels: {shown})")
    return int(hits[0])
