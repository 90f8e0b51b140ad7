"""Several variables at once: means, totals and population variances with their full covariance.

R's ``svymean``/``svytotal`` over a formula of several terms (factors expanded to one 0/1
column per level, named ``<variable><level>`` as ``model.matrix(~0 + f)`` names them) and
``svyvar``, for Taylor-linearisation and replicate-weight designs (Lumley 2010, Complex Surveys,
secs. 2.2-2.4 and 3.2; R ``survey`` help pages ``svymean``, ``svyvar``).

Missing values: as R with ``na.rm=TRUE``, a row missing any of the variables is dropped for all
of them (the estimates and their covariance are on the same rows).

Influence values handed to the linearisation variance (``svyrecvar``), n x k:

* total: ``w y``; mean: ``w (y - ybar) / W``;
* variance (``svyvar.survey.design``): R computes ``svymean`` of the products
  ``(y_j - ybar_j)(y_l - ybar_l) n / (n - 1)`` with ybar held fixed, so the influence is that
  of a mean of those products; ``n`` counts rows with a non-zero weight.

Replicate designs recompute every statistic with each column of replicate weights (for the
variance: ybar recomputed in each replicate, ``svyvar.svyrep.design``).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from methods.core.errors import ValidationError
from methods.design.columns import require_columns

__all__ = [
    "AttrMatrix",
    "design_matrix",
    "mean_total",
    "replicate_mean_total",
    "replicate_var",
    "var_products",
    "vcov",
]


def design_matrix(data: pd.DataFrame, cols: str | Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The n x k matrix of ``cols`` with factors expanded, and the column names (R's).

    Numeric and boolean columns stay as they are (float, NaN where missing); any other column
    (strings, categoricals) is a factor: one 0/1 column per level (categories in their order,
    otherwise the sorted observed values, as R's ``factor``), NaN on rows where it is missing.
    """
    names_in = [cols] if isinstance(cols, str) else list(cols)
    if not names_in:
        raise ValidationError("no variables given", None)
    require_columns(data, *names_in)
    blocks: list[np.ndarray] = []
    names: list[str] = []
    for c in names_in:
        col = data[c]
        if pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
            blocks.append(col.to_numpy(dtype=float, na_value=np.nan)[:, None])
            names.append(c)
            continue
        if isinstance(col.dtype, pd.CategoricalDtype):
            levels = list(col.cat.categories)
        else:
            levels = sorted(pd.unique(col.dropna()))
        values = col.to_numpy(dtype=object)
        missing = col.isna().to_numpy()
        block = np.stack([(values == lev).astype(float) for lev in levels], axis=1)
        block[missing] = np.nan
        blocks.append(block)
        names.extend(f"{c}{lev}" for lev in levels)
    return np.hstack(blocks), names


def mean_total(kind: str, Y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimates (k) and influence values (n x k) of means or totals; ``Y`` has no NaN on
    rows with a non-zero weight (dropped rows carry weight 0)."""
    Y0 = np.where(w[:, None] != 0, Y, 0.0)
    W = w.sum()
    if kind == "total":
        return w @ Y0, w[:, None] * Y0
    est = (w @ Y0) / W
    return est, w[:, None] * (Y0 - est[None, :]) / W


def var_products(
    Y: np.ndarray, w: np.ndarray, n: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """svyvar's estimate (k x k) and the n x k^2 products whose mean it is.

    ``s_jl = n/(n-1) sum w (y_j - ybar_j)(y_l - ybar_l) / W``, n = #rows with non-zero weight
    (R ``svyvar.survey.design``: ``svymean(x * x * n / (n - 1))`` with x centred at ybar).
    R counts n on the design before rows with missing values are dropped; pass that as ``n``.
    """
    used = w != 0
    n = float(used.sum()) if n is None else float(n)
    Y0 = np.where(used[:, None], Y, 0.0)
    ybar = (w @ Y0) / w.sum()
    D = np.where(used[:, None], Y0 - ybar[None, :], 0.0)
    k = Y.shape[1]
    P = (D[:, :, None] * D[:, None, :]).reshape(len(w), k * k) * (n / (n - 1.0))
    S = (w @ P) / w.sum()
    return S.reshape(k, k), P


def replicate_mean_total(kind: str, rep: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Replicate estimates (R x k): ``Y' rep_r`` (totals) or divided by ``sum rep_r``."""
    Y0 = np.where(np.isnan(Y), 0.0, Y)
    T = rep.T @ Y0
    if kind == "total":
        return T
    with np.errstate(divide="ignore", invalid="ignore"):
        return T / rep.sum(axis=0)[:, None]


def replicate_var(rep: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Replicate svyvar estimates, R x k^2 (R ``svyvar.svyrep.design``: ybar recomputed with
    each replicate's weights; divisor ``n/(n-1)`` with n the rows kept)."""
    n = float(Y.shape[0])
    k = Y.shape[1]
    Y = Y - Y.mean(axis=0)[None, :]  # a shift leaves variances unchanged; keeps digits
    sw = rep.sum(axis=0)  # R
    T = rep.T @ Y  # R x k
    ybar = T / sw[:, None]
    # sum_i w_ri (y_ij - b_rj)(y_il - b_rl) = sum w y_j y_l - b_j T_l - b_l T_j + b_j b_l sw
    YY = (Y[:, :, None] * Y[:, None, :]).reshape(Y.shape[0], k * k)
    M = (rep.T @ YY).reshape(-1, k, k)
    cross = ybar[:, :, None] * T[:, None, :]
    S = (
        M
        - cross
        - np.transpose(cross, (0, 2, 1))
        + ybar[:, :, None] * ybar[:, None, :] * sw[:, None, None]
    )
    return (S / sw[:, None, None] * (n / (n - 1.0))).reshape(-1, k * k)


class AttrMatrix(dict):
    """A labelled matrix kept in ``DataFrame.attrs`` (``vcov``, ``replicates``, ``matrix``).

    pandas compares the attrs of frames it concatenates with ``==`` and writes them as JSON
    into Parquet files, so a DataFrame or ndarray there breaks ``pd.concat`` and
    ``to_parquet``. This is a plain JSON-able dict (``shape``, ``rows``, ``cols`` and the
    float64 bytes in base64 under ``data``), compared by value; ``values`` gives the
    read-only ndarray, ``frame()`` the DataFrame with the original labels.
    """

    def __init__(
        self, values: np.ndarray, rows: Sequence | None = None, cols: Sequence | None = None
    ):
        v = np.ascontiguousarray(values, dtype="<f8")
        super().__init__(
            shape=list(v.shape),
            rows=None if rows is None else [_label(r) for r in rows],
            cols=None if cols is None else [_label(c) for c in cols],
            data=base64.b64encode(v.tobytes()).decode("ascii"),
        )
        self.__dict__["_labels"] = (
            None if rows is None else list(rows),
            None if cols is None else list(cols),
        )

    @classmethod
    def of(cls, obj: Any) -> AttrMatrix:
        """An AttrMatrix from itself or from its dict form (attrs read back from a file)."""
        if isinstance(obj, AttrMatrix):
            return obj
        if isinstance(obj, dict) and {"shape", "data"} <= obj.keys():
            return cls(_decode(obj), obj.get("rows"), obj.get("cols"))
        return cls(np.asarray(obj, dtype=float))

    @property
    def values(self) -> np.ndarray:
        v = _decode(self)
        v.flags.writeable = False
        return v

    def frame(self) -> pd.DataFrame:
        """The matrix as a DataFrame with its labels."""
        rows, cols = self.__dict__.get("_labels", (self["rows"], self["cols"]))
        return pd.DataFrame(self.values, index=rows, columns=cols)

    def __array__(self, dtype=None, copy=None):
        v = _decode(self)
        return v if dtype is None else v.astype(dtype)

    def __repr__(self) -> str:
        return f"AttrMatrix({'x'.join(map(str, self['shape']))}): use .frame()"


def _label(x: Any) -> Any:
    if isinstance(x, tuple):
        return ".".join(map(str, x))
    return x if isinstance(x, str) else str(x)


def _decode(d: dict) -> np.ndarray:
    raw = base64.b64decode(d["data"])
    return np.frombuffer(raw, dtype="<f8").reshape(d["shape"]).copy()


def vcov(result: pd.DataFrame) -> pd.DataFrame:
    """The covariance matrix of an estimator's output (R ``vcov``), as a DataFrame."""
    V = result.attrs.get("vcov")
    if V is None:
        raise ValidationError("this output carries no covariance matrix (attrs['vcov'])", None)
    return AttrMatrix.of(V).frame()
