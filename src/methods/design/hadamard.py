"""The Hadamard matrices of R's ``survey::hadamard(n)``, rebuilt by their constructions, for the
built-in BRR of :func:`methods.design.variance.brr_factors` (R ``brrweights``).

R's ``hadamard(n)`` returns a 0/1 matrix of order > n (1 = +1): its stored matrices of orders
4, 16, 28 and 36 when one is within 4 of n; otherwise the smallest of those stored matrices
doubled enough times (R ``hadamard.doubler``: ``[[H, H], [H, 1 - H]]``) unless that wastes more
than 4 rows and R's ``paley(n, nmax)`` finds a smaller Paley matrix (a prime q = 3 mod 4 from
its list of the 504 up to 7919, possibly doubled). Every step is reproduced here, including
R's choices between them, so that the same number of strata gives the same matrix, hence the
same half-samples and replicate weights, as R.

Constructions:

* orders 4 and 16 (stored in R): Sylvester's, by R's doubler from ``[[1, 1], [1, 0]]``;
* order 36 (stored in R, from Plackett and Burman 1946): the cyclic matrix of the twin-prime
  difference set of Z_35 (Stanton and Sprott 1958): a first row of ones, then rows k = 0..34
  with entry ``g[(j + k) mod 35]`` in column j < 35 and 0 in the last column, where
  ``g[x] = 1`` unless ``x = 0 mod 7`` or ``chi_5(x) chi_7(x) = -1`` (chi_p the quadratic
  character mod p). It equals R's stored matrix entry for entry;
* R's Paley matrices: ``cbind(1, rbind(1, M))`` with ``M[i, j] = 0`` when ``(i + j) mod q`` is
  0 or a quadratic residue of q, 1 otherwise (R ``paley``'s back-circulant form);
* order 28: R stores a matrix from Sloane's library that no construction here reproduces. We
  build Paley's second construction for q = 13 (Paley 1933) instead: same order, so the same
  number of replicates and, for linear statistics, the same variance, but other half-samples.
  :func:`r_hadamard` says so and :mod:`methods.design.replicate` warns.

References:
    R package ``survey`` 4.1: ``hadamard``, ``paley``, ``hadamard.doubler``, ``brrweights``.
    Sylvester JJ (1867). Thoughts on inverse orthogonal matrices. Phil Mag 34:461-475.
    Paley REAC (1933). On orthogonal matrices. J Math Phys 12:311-320.
    Plackett RL, Burman JP (1946). The design of optimum multifactorial experiments.
    Biometrika 33:305-325.
    Stanton RG, Sprott DA (1958). A family of difference sets. Canad J Math 10:73-77.
    Wolter K (2007). Introduction to Variance Estimation, 2nd ed., sec. 3.3.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

#: R's stored orders (``survey:::hadamard.sizes``).
STORED_ORDERS = (4, 16, 28, 36)
#: Stored orders that :func:`r_hadamard` cannot rebuild exactly (R's matrix from Sloane's library).
NOT_R_ORDERS = (28,)


def _primes_3_mod_4(limit: int) -> tuple[int, ...]:
    sieve = np.ones(limit + 1, bool)
    sieve[:2] = False
    for d in range(2, int(limit**0.5) + 1):
        if sieve[d]:
            sieve[d * d :: d] = False
    return tuple(int(q) for q in np.flatnonzero(sieve) if q % 4 == 3)


#: R ``paley``'s ``small.primes``: every prime q = 3 mod 4 up to 7919 (checked against R).
SMALL_PRIMES = _primes_3_mod_4(7919)
_PRIME_SET = frozenset(SMALL_PRIMES)


@dataclass(frozen=True)
class RHadamard:
    """R's choice for ``hadamard(n)``: ``matrix`` 0/1 (int8) of order > n; ``base`` the stored
    order it was doubled from (None for a Paley matrix); ``exact`` False when R's stored
    order-28 matrix was needed and ours (Paley II) stands in for it."""

    matrix: np.ndarray
    base: int | None
    exact: bool


def _double(H: np.ndarray) -> np.ndarray:
    """R ``hadamard.doubler``: ``rbind(cbind(H, H), cbind(H, 1 - H))``."""
    return np.block([[H, H], [H, 1 - H]])


def _sylvester(order: int) -> np.ndarray:
    H = np.array([[1, 1], [1, 0]], dtype=np.int8)
    while H.shape[0] < order:
        H = _double(H)
    return H


def _chi(x: np.ndarray, p: int) -> np.ndarray:
    """Quadratic character mod prime p (0 at 0)."""
    x = np.asarray(x) % p
    squares = np.zeros(p, bool)
    squares[(np.arange(1, p) ** 2) % p] = True
    return np.where(x == 0, 0, np.where(squares[x], 1, -1))


def _twin_prime_36() -> np.ndarray:
    x = np.arange(35)
    g = np.where((x % 7 == 0) | (_chi(x, 5) * _chi(x, 7) == -1), 0, 1).astype(np.int8)
    H = np.zeros((36, 36), dtype=np.int8)
    H[0] = 1
    H[1:, :35] = g[(x[None, :] + x[:, None]) % 35]
    return H


def _paley2(q: int) -> np.ndarray:
    """Paley's second construction, order 2(q + 1) for a prime q = 1 mod 4, as 0/1 with a first
    row of ones: the symmetric conference matrix C = [[0, 1'], [1, Q]] (Q the Jacobsthal
    matrix) with 0 -> [[1, -1], [-1, -1]] and +/-1 -> +/-[[1, 1], [1, -1]]."""
    x = np.arange(q)
    C = np.zeros((q + 1, q + 1), dtype=int)
    C[0, 1:] = 1
    C[1:, 0] = 1
    C[1:, 1:] = _chi(x[None, :] - x[:, None], q)
    S = np.kron(C, [[1, 1], [1, -1]]) + np.kron(np.eye(q + 1, dtype=int), [[1, -1], [-1, -1]])
    S = S * S[0][None, :]
    return ((S + 1) // 2).astype(np.int8)


@cache
def _stored(order: int) -> np.ndarray:
    if order in (4, 16):
        return _sylvester(order)
    if order == 36:
        return _twin_prime_36()
    return _paley2(13)  # order 28: stands in for R's stored matrix


def _paley_prime(p: int) -> np.ndarray:
    """R ``paley(prime = p)``: order p + 1, 0 where (i + j) mod p is 0 or a square."""
    i = np.arange(p)
    residues = np.zeros(p, bool)
    residues[0] = True
    residues[(np.arange(1, (p - 1) // 2 + 1) ** 2) % p] = True
    H = np.ones((p + 1, p + 1), dtype=np.int8)
    H[1:, 1:] = np.where(residues[(i[:, None] + i[None, :]) % p], 0, 1)
    return H


def _paley(n: int, nmax: int | None = None) -> np.ndarray | None:
    """R ``paley(n, nmax)`` (prime not given), step for step; None where R returns NULL."""
    if nmax is None:
        nmax = 2 * n
    nceil = nn = n + 4 - n % 4
    if n % 4 + 4 == n % 8:
        while nn % 8 == 0:
            nn //= 2
        if nn - 1 in _PRIME_SET:
            H = _paley_prime(nn - 1)
            while nn < nceil:
                H = _double(H)
                nn *= 2
            return H
    if n > SMALL_PRIMES[-1]:
        return None
    p = next(q for q in SMALL_PRIMES if q >= n)
    if p + 1 > nceil + 4 and nceil + 4 < nmax:
        return _paley(nceil + 3)
    if p > nmax:
        return None
    return _paley_prime(p)


def r_hadamard(n: int) -> RHadamard:
    """R ``survey::hadamard(n)``: the 0/1 Hadamard matrix R's ``brrweights`` uses for n strata
    (order > n; rows 2..n+1 and every column are used).

    Notes:
        R's steps: m = n - n mod 4; a stored matrix of order in (m, m + 4] if any; else each
        stored order doubled to at least n + 1 (``2^ceiling(log2((n + 1) / size))``), the
        first with the least excess taken, and when that excess is above 4 R's ``paley(n,
        size)`` tried first. ``exact`` is False when the result is built from order 28 (n =
        24..27, 48..55, 108..111, 220..223, 444..447, ...), where R uses its stored matrix.
    """
    n = int(n)
    m = n - n % 4
    near = [s for s in STORED_ORDERS if m < s <= m + 4]
    if near:
        base = near[0]
        return RHadamard(_stored(base), base, base not in NOT_R_ORDERS)
    if all(m < s for s in STORED_ORDERS):
        return RHadamard(_stored(4), 4, True)
    sizes = [s * 2 ** max(0, math.ceil(math.log2((n + 1) / s))) for s in STORED_ORDERS]
    best = int(np.argmin([s - n for s in sizes]))
    if sizes[best] - n > 4:
        H = _paley(n, sizes[best])
        if H is not None:
            return RHadamard(H, None, True)
    base = STORED_ORDERS[best]
    H = _stored(base)
    for _ in range(math.ceil(math.log2(sizes[best] / base))):
        H = _double(H)
    return RHadamard(H, base, base not in NOT_R_ORDERS)


def hadamard(min_order: int) -> np.ndarray:
    """A +/-1 Hadamard matrix of order >= ``min_order``: R's ``2 * hadamard(min_order - 1) - 1``
    (see :func:`r_hadamard`; its first row is all +1, its first column need not be).

    Notes:
        H H' = m I, which is what makes the BRR half-samples balanced (Wolter 2007, sec. 3.3).
    """
    return 2.0 * r_hadamard(max(int(min_order) - 1, 0)).matrix - 1.0
