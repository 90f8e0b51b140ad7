"""Linear and nonlinear contrasts of estimates with their covariance: R's ``svycontrast``.

A contrast is a function of the estimates ``theta`` (k) of one estimator call:

* linear, ``c' theta`` with named weights: covariance ``C V C'`` (R ``survey:::contrast``);
* nonlinear, ``g(theta)``: for Taylor designs the delta method ``J V J'`` with J the Jacobian of
  g at theta (R ``survey:::nlcon``, which differentiates symbolically with ``deriv``; here an
  analytic gradient when given, otherwise central differences with Richardson extrapolation,
  accurate to about 1e-10 relative); for replicate designs g is applied to every replicate's
  estimates and the replicate variance of those values is used (R ``svycontrast.svrepstat`` on
  an estimate made with ``return.replicates=TRUE``).

References: R ``survey`` help page ``svycontrast``; Lumley (2010), Complex Surveys, sec. 3.4
(Taylor series linearisation of functions of estimates); Wolter (2007), Introduction to
Variance Estimation, 2nd ed., ch. 6 (delta method).

Expressions (strings) are parsed with :mod:`ast` and evaluated over the estimates' names with
arithmetic (``+ - * / **``), numbers and the functions in :data:`FUNCTIONS`; nothing else is
allowed (no attribute access, no builtins).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from methods.core.errors import UsageError

__all__ = ["FUNCTIONS", "Contrast", "contrast_values", "parse_contrasts"]

FUNCTIONS: dict[str, Callable] = {
    "log": np.log,
    "exp": np.exp,
    "sqrt": np.sqrt,
    "log10": np.log10,
    "log2": np.log2,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "asin": np.arcsin,
    "acos": np.arccos,
    "atan": np.arctan,
    "abs": np.abs,
    "logit": lambda p: np.log(p / (1.0 - p)),
    "expit": lambda x: 1.0 / (1.0 + np.exp(-x)),
}

_BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.divide,
    ast.Pow: np.power,
}


class Contrast:
    """One contrast: ``weights`` (length k) for a linear one, else ``fun(values) -> array``
    where ``values`` maps each estimate's name to an array; ``gradient`` (optional) maps the
    same to the k partial derivatives."""

    def __init__(self, name: str, weights=None, fun=None, gradient=None):
        self.name = name
        self.weights = weights
        self.fun = fun
        self.gradient = gradient

    @property
    def linear(self) -> bool:
        return self.weights is not None


def _compile(expr: str, names: Sequence[str]) -> Callable[[Mapping], Any]:
    """An expression over ``names`` as a function of a name -> value mapping."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        raise UsageError(f"contrast {expr!r} is not an expression: {exc.msg}") from None
    known = set(names)

    def check(node: ast.AST) -> None:
        if isinstance(node, ast.Expression):
            check(node.body)
        elif isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            check(node.left)
            check(node.right)
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
            check(node.operand)
        elif isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            pass
        elif isinstance(node, ast.Name):
            if node.id not in known:
                raise UsageError(
                    f"contrast {expr!r}: {node.id!r} is not an estimate (estimates: "
                    f"{sorted(known)[:20]})"
                )
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in FUNCTIONS
            and not node.keywords
        ):
            for a in node.args:
                check(a)
        else:
            raise UsageError(
                f"contrast {expr!r}: only numbers, estimate names, + - * / ** and the "
                f"functions {sorted(FUNCTIONS)} are allowed"
            )

    check(tree)

    def ev(node: ast.AST, values: Mapping):
        if isinstance(node, ast.Expression):
            return ev(node.body, values)
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](ev(node.left, values), ev(node.right, values))
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand, values)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.Name):
            return values[node.id]
        assert isinstance(node, ast.Call)
        return FUNCTIONS[node.func.id](*(ev(a, values) for a in node.args))

    return lambda values: ev(tree, values)


def parse_contrasts(contrasts: Any, names: Sequence[str], gradient: Any = None) -> list[Contrast]:
    """Contrasts from: a mapping of weights ``{name: weight}`` (linear; names not given weigh
    0), a sequence of k numbers (linear), a string expression or a callable (nonlinear), or a
    mapping ``{contrast_name: one of those}`` for several. ``gradient``: a callable (or a
    mapping contrast name -> callable) giving the partial derivatives of a callable contrast.
    """
    names = [str(n) for n in names]
    k = len(names)

    def one(name: str, spec: Any, grad: Any) -> Contrast:
        if isinstance(spec, str):
            return Contrast(name, fun=_compile(spec, names), gradient=grad)
        if callable(spec):
            return Contrast(name, fun=spec, gradient=grad)
        if isinstance(spec, Mapping):
            unknown = [str(a) for a in spec if str(a) not in names]
            if unknown:
                raise UsageError(
                    f"contrast {name!r}: {unknown} are not estimates (estimates: {names[:20]})"
                )
            w = np.zeros(k)
            for a, v in spec.items():
                w[names.index(str(a))] = float(v)
            return Contrast(name, weights=w)
        w = np.asarray(spec, dtype=float).reshape(-1)
        if w.shape != (k,):
            raise UsageError(f"contrast {name!r} has {w.size} weights for {k} estimates")
        return Contrast(name, weights=w)

    is_many = isinstance(contrasts, Mapping) and all(
        isinstance(v, str | Mapping) or callable(v) or isinstance(v, Sequence | np.ndarray)
        for v in contrasts.values()
    )
    if is_many and all(isinstance(v, int | float) for v in contrasts.values()):
        is_many = False  # {name: weight}: one linear contrast
    if not is_many:
        return [one("contrast", contrasts, gradient)]
    out = []
    for nm, spec in contrasts.items():
        g = gradient.get(nm) if isinstance(gradient, Mapping) else gradient
        out.append(one(str(nm), spec, g))
    return out


def _values(names: Sequence[str], theta: np.ndarray) -> dict:
    """name -> value (or column of values when ``theta`` is R x k)."""
    return {str(n): theta[..., j] for j, n in enumerate(names)}


def _evaluate(c: Contrast, names: Sequence[str], theta: np.ndarray) -> np.ndarray:
    if c.linear:
        return theta @ c.weights
    with np.errstate(all="ignore"):
        v = np.asarray(c.fun(_values(names, theta)), dtype=float)
    return np.broadcast_to(v, theta.shape[:-1]).astype(float)


def _jacobian_row(c: Contrast, names: Sequence[str], theta: np.ndarray) -> np.ndarray:
    """The gradient of contrast ``c`` at ``theta``: analytic when given, else central
    differences with one Richardson step (truncation error O(h^4))."""
    if c.linear:
        return c.weights
    if c.gradient is not None:
        g = c.gradient(_values(names, theta))
        if isinstance(g, Mapping):
            g = [g.get(str(n), 0.0) for n in names]
        g = np.asarray(g, dtype=float).reshape(-1)
        if g.shape != theta.shape:
            raise UsageError(f"gradient of {c.name!r} has {g.size} entries for {theta.size}")
        return g
    k = theta.size
    h = 1e-3 * np.maximum(np.abs(theta), 1e-8)
    E = np.eye(k)

    def central(step: np.ndarray) -> np.ndarray:
        pts = np.concatenate([theta + E * step[:, None], theta - E * step[:, None]])
        f = _evaluate(c, names, pts)
        return (f[:k] - f[k:]) / (2.0 * step)

    d1, d2 = central(h), central(h / 2.0)
    return (4.0 * d2 - d1) / 3.0


def contrast_values(
    contrasts: list[Contrast],
    names: Sequence[str],
    theta: np.ndarray,
    V: np.ndarray,
    replicates: np.ndarray | None,
    rep_var: Callable[[np.ndarray, np.ndarray], np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Estimates (m), covariance (m x m) and replicate values (R x m, or None).

    With replicates and a nonlinear contrast, every contrast is evaluated on every replicate and
    ``rep_var`` (the design's ``svrVar``) gives the covariance; otherwise ``J V J'``.
    """
    est = np.array([float(_evaluate(c, names, theta[None, :])[0]) for c in contrasts])
    if replicates is not None:
        reps = np.stack([_evaluate(c, names, replicates) for c in contrasts], axis=1)
    else:
        reps = None
    if reps is not None and rep_var is not None and not all(c.linear for c in contrasts):
        return est, rep_var(reps, est), reps
    J = np.stack([_jacobian_row(c, names, theta) for c in contrasts])
    return est, J @ V @ J.T, reps
