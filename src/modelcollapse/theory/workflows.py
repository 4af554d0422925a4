"""Exact moments under the workflows beyond the paper's "replace" (see modelcollapse.workflows).

Every recursion below is exact: it follows the conditional mean and variance of one generation's
pooled sufficient statistic, and all of them are linear in the previous generation's moments.
They are derived here (our own derivation, checked against simulation in the tests); the limits
they reach are the known results:

- accumulate: the Gaussian mean's squared error stays bounded, tending to about
  (pi^2 / 6) sigma0^2 / n (Dey and Donoho 2024, "Universality of the pi^2/6 pathway in avoiding
  model collapse"; Gerstgrasser et al. 2024, "Is model collapse inevitable?"), while under
  replace it grows linearly, k sigma0^2 / n (unbiased variance).
- mix with lambda > 0: the moments converge to a stationary value, the fixed point of the
  recursion (Bertrand et al. 2024, "On the stability of iterative retraining of generative models
  on their own data").

Notation: n_k is the size of generation k's fresh draw (the schedule), N_k the size of the pool
it trains on. ``sizes`` gives n_1..n_K; a single integer means a constant n.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from modelcollapse.errors import ConfigError

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample", "mix", "mix-fixed")


def _sizes(n: int | Sequence[int], k_max: int) -> NDArray[np.int64]:
    if isinstance(n, (int, np.integer)):
        if n < 1:
            raise ConfigError("n", n, "an integer >= 1")
        return np.full(k_max + 1, int(n), dtype=np.int64)
    sizes = np.asarray(list(n), dtype=np.int64)
    if sizes.size < k_max or np.any(sizes < 1):
        raise ConfigError("sizes", list(n), f"at least {k_max} sizes >= 1 (n_1 .. n_K)")
    return np.concatenate([[sizes[0]], sizes[:k_max]])


def _split(n: int, lam: float) -> tuple[int, int]:
    n_real = int(round(lam * n))
    return n_real, n - n_real


def _check(workflow: str, real_fraction: float | None) -> float:
    if workflow not in WORKFLOWS:
        raise ConfigError("workflow", workflow, f"one of: {', '.join(WORKFLOWS)}")
    if workflow.startswith("mix"):
        if real_fraction is None or not 0.0 <= real_fraction <= 1.0:
            raise ConfigError("real_fraction", real_fraction, "a fraction in [0, 1]")
        return float(real_fraction)
    return 0.0


def bernoulli_variance_factor(
    n: int | Sequence[int], k: int, workflow: str = "replace", real_fraction: float | None = None
) -> NDArray[np.float64]:
    """phi_0..phi_k with Var[P_j] = p0 (1 - p0) phi_j for a Bernoulli (any p0).

    Recursions (q = p0 (1 - p0); v_j = Var[P_j]; E[P_j] = p0 under every workflow):

    - replace: v_j = v_{j-1} + (q - v_{j-1}) / n_j (binomial resampling).
    - accumulate: v_j = v_{j-1} + n_j (q - v_{j-1}) / N_j^2, N_j = n_1 + ... + n_j.
    - accumulate-subsample: the pool's share Q_j has u_j = Var[Q_j] =
      (N_{j-1}^2 u_{j-1} + 2 N_{j-1} n_j u_{j-1} + n_j^2 v_{j-1} + n_j (q - v_{j-1})) / N_j^2
      (using Cov[P_{j-1}, Q_{j-1}] = u_{j-1}), and the hypergeometric subsample adds
      v_j = u_j + (q - u_j) (N_j - n_j) / (n_j (N_j - 1)).
    - mix (fresh real r_j = round(lambda n_j), synthetic s_j = n_j - r_j):
      v_j = (r_j q + s_j (q - v_{j-1}) + s_j^2 v_{j-1}) / n_j^2.
    - mix-fixed (one real sample of r points; a_j = Cov[P_j, real share]):
      v_j = (r q + s^2 v_{j-1} + 2 r s a_{j-1} + s (q - v_{j-1})) / n^2,
      a_j = (q + s a_{j-1}) / n.

    Every recursion is linear and homogeneous in q, so phi (q = 1) serves every p0; it also gives
    the categorical Gini-Simpson index, symbol by symbol.
    """
    lam = _check(workflow, real_fraction)
    sizes = _sizes(n, k)
    q = 1.0
    v = np.zeros(k + 1)
    u = c = a = 0.0
    total = 0
    for j in range(1, k + 1):
        nj = int(sizes[j])
        prev = v[j - 1]
        if workflow == "replace":
            v[j] = prev + (q - prev) / nj
        elif workflow == "accumulate":
            total += nj
            v[j] = prev + nj * (q - prev) / total**2
        elif workflow == "accumulate-subsample":
            before = total
            total += nj
            u = (before**2 * u + 2 * before * nj * c + nj**2 * prev + nj * (q - prev)) / total**2
            c = u
            v[j] = u + ((q - u) * (total - nj) / (nj * (total - 1)) if total > 1 else 0.0)
        elif workflow == "mix":
            r, s = _split(nj, lam) if j > 1 else (nj, 0)
            # Generation 1 trains on the real model only: r + s = n_1 points with variance q.
            v[j] = (r * q + s * (q - prev) + s * s * prev) / nj**2 if j > 1 else q / nj
        else:  # mix-fixed
            r, s = _split(nj, lam)
            v[j] = (r * q + s * s * prev + 2 * r * s * a + s * (q - prev)) / nj**2
            a = (q + s * a) / nj
    return v


def bernoulli_variance(
    p0: float,
    n: int | Sequence[int],
    k: int,
    workflow: str = "replace",
    real_fraction: float | None = None,
) -> NDArray[np.float64]:
    """Var[P_j], j = 0..k, exactly (see :func:`bernoulli_variance_factor`)."""
    if not 0.0 <= p0 <= 1.0:
        raise ConfigError("p0", p0, "a probability in [0, 1]")
    return p0 * (1 - p0) * bernoulli_variance_factor(n, k, workflow, real_fraction)


def gini_simpson(
    probs: Sequence[float],
    n: int | Sequence[int],
    k: int,
    workflow: str = "replace",
    real_fraction: float | None = None,
) -> NDArray[np.float64]:
    """E[1 - sum_i P_{j,i}^2], j = 0..k: GS_0 (1 - phi_j), since E[P_{j,i}^2] = p_i^2 +
    p_i (1 - p_i) phi_j and sum_i p_i (1 - p_i) = GS_0 (each symbol's count is a Bernoulli pool)."""
    p = np.asarray(probs, dtype=float)
    gs0 = 1.0 - float(np.sum(p * p))
    return gs0 * (1.0 - bernoulli_variance_factor(n, k, workflow, real_fraction))


def gaussian_moments(
    sigma0: float,
    n: int | Sequence[int],
    k: int,
    workflow: str = "replace",
    real_fraction: float | None = None,
    estimator: str = "unbiased",
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(E[(M_j - mu0)^2], E[Sigma_j^2]) for j = 0..k, exactly, for a Gaussian refitted by its mean
    and variance (divisor d(N) = N - 1 "unbiased" or N "ml" over the N pooled points).

    With m = E[(M - mu0)^2], s = E[Sigma^2] and the scatter SS of the pool:

    - replace: s_j = s_{j-1} (n_j - 1) / d(n_j); m_j = m_{j-1} + s_{j-1} / n_j.
    - accumulate (the model's mean is the pool's mean): E[SS_j] = E[SS_{j-1}] +
      (n_j - 1 + N_{j-1} / N_j) s_{j-1}; m_j = m_{j-1} + n_j s_{j-1} / N_j^2.
    - mix (r fresh real points, t synthetic): m_j = (r sigma0^2 + t s_{j-1} + t^2 m_{j-1}) / n_j^2,
      E[SS_j] = (r - 1) sigma0^2 + (t - 1) s_{j-1} + (r t / n_j)(m_{j-1} + sigma0^2 / r + s_{j-1} / t).
    - mix-fixed adds a_j = E[(M_j - mu0)(mean of the real sample - mu0)] = (sigma0^2 + t a_{j-1}) / n.

    accumulate-subsample has no closed recursion in these two moments and raises ConfigError.
    """
    lam = _check(workflow, real_fraction)
    if workflow == "accumulate-subsample":
        raise ConfigError("workflow", workflow, "no exact Gaussian moments for this workflow")
    if estimator not in ("unbiased", "ml"):
        raise ConfigError("estimator", estimator, "unbiased or ml")
    if not (sigma0 > 0 and math.isfinite(sigma0)):
        raise ConfigError("sigma0", sigma0, "a finite number > 0")
    sizes = _sizes(n, k)
    if sizes.min() < 2:
        raise ConfigError("n", int(sizes.min()), "the Gaussian needs n >= 2")

    def d(size: int) -> int:
        return size - 1 if estimator == "unbiased" else size

    v0 = sigma0**2
    m = np.zeros(k + 1)
    s = np.zeros(k + 1)
    s[0] = v0
    ss = 0.0
    a = 0.0
    total = 0
    for j in range(1, k + 1):
        nj = int(sizes[j])
        if workflow == "replace":
            s[j] = s[j - 1] * (nj - 1) / d(nj)
            m[j] = m[j - 1] + s[j - 1] / nj
        elif workflow == "accumulate":
            before = total
            total += nj
            ss = ss + (nj - 1 + before / total) * s[j - 1]
            s[j] = ss / d(total)
            m[j] = m[j - 1] + nj * s[j - 1] / total**2
        else:
            r, t = _split(nj, lam)
            if workflow == "mix" or j == 1:
                if j == 1:  # generation 1 is all real: the plain Gaussian step from theta_0
                    r, t = nj, 0
                m[j] = (r * v0 + t * s[j - 1] + t * t * m[j - 1]) / nj**2
                e_ss = (r - 1) * v0 if r > 0 else 0.0
                e_ss += (t - 1) * s[j - 1] if t > 0 else 0.0
                if r > 0 and t > 0:
                    e_ss += (r * t / nj) * (m[j - 1] + v0 / r + s[j - 1] / t)
                s[j] = e_ss / d(nj)
                if workflow == "mix-fixed":
                    # At generation 1 the fixed real sample is part of an all-real pool.
                    r_fixed, _ = _split(nj, lam)
                    a = v0 / nj if r_fixed > 0 else 0.0
            else:  # mix-fixed, j >= 2
                m_new = (r * v0 + t * t * m[j - 1] + 2 * r * t * a + t * s[j - 1]) / nj**2
                e_ss = (r - 1) * v0 if r > 0 else 0.0
                e_ss += (t - 1) * s[j - 1] if t > 0 else 0.0
                if r > 0 and t > 0:
                    e_ss += (r * t / nj) * (v0 / r + m[j - 1] - 2 * a + s[j - 1] / t)
                a = (v0 + t * a) / nj
                m[j] = m_new
                s[j] = e_ss / d(nj)
    return m, s


def accumulate_mean_limit(sigma0: float, n: int) -> float:
    """(pi^2 / 6) sigma0^2 / n: the limit of E[(M_k - mu0)^2] under accumulate when the variance
    stays at sigma0^2 (sum over j of sigma0^2 / (n j^2)); Dey and Donoho (2024)."""
    return math.pi**2 / 6 * sigma0**2 / n


def bernoulli_survival_schedule(p0: float, sizes: Sequence[int], k: int) -> NDArray[np.float64]:
    """Pr(P_j != 0), j = 0..k, under replace with a schedule n_1..n_k: the count chain
    C_j ~ Binomial(n_j, C_{j-1} / n_{j-1}) propagated through its rectangular transition
    matrices (C_0 is replaced by the start probability p0 in the first step)."""
    from scipy import stats

    if not 0.0 <= p0 <= 1.0:
        raise ConfigError("p0", p0, "a probability in [0, 1]")
    n = _sizes(list(sizes), k)
    dist = stats.binom.pmf(np.arange(n[1] + 1), n[1], p0)
    out = np.ones(k + 1)
    out[0] = 1.0 if p0 > 0 else 0.0
    out[1] = 1.0 - dist[0]
    for j in range(2, k + 1):
        prev, cur = int(n[j - 1]), int(n[j])
        freq = np.arange(prev + 1) / prev
        matrix = stats.binom.pmf(np.arange(cur + 1)[None, :], cur, freq[:, None])
        dist = dist @ matrix
        out[j] = 1.0 - dist[0]
    return out


def mix_stationary(
    sigma0: float, n: int, real_fraction: float, estimator: str = "unbiased"
) -> tuple[float, float]:
    """Stationary (E[(M - mu0)^2], E[Sigma^2]) of the Gaussian under ``mix`` with a constant n:
    the fixed point of the linear recursion of :func:`gaussian_moments` (Bertrand et al. 2024
    prove that mixing in a fixed share of real data makes retraining stable).

    With r = round(lambda n) real and t = n - r synthetic points, d = n - 1 or n:
    m = (r sigma0^2 + t s + t^2 m) / n^2 and
    d s = (r - 1) sigma0^2 + (t - 1) s + (r t / n)(m + sigma0^2 / r + s / t), solved exactly.
    """
    if estimator not in ("unbiased", "ml"):
        raise ConfigError("estimator", estimator, "unbiased or ml")
    r, t = _split(int(n), float(real_fraction))
    if r == 0:
        raise ConfigError(
            "real_fraction",
            real_fraction,
            f"a fraction with round(lambda n) >= 1 (n = {n}); with no real data "
            "there is no stationary law",
        )
    v0 = sigma0**2
    d = n - 1 if estimator == "unbiased" else n
    # Unknowns (m, s): a 2x2 linear system A [m, s] = b.
    a = np.array(
        [
            [n * n - t * t, -t],
            [-(r * t / n), d - (t - 1 if t > 0 else 0) - (r / n if t > 0 else 0)],
        ],
        dtype=float,
    )
    b = np.array([r * v0, (r - 1) * v0 + (t / n) * v0 if t > 0 else (r - 1) * v0])
    m, s = np.linalg.solve(a, b)
    return float(m), float(s)


def bernoulli_mix_stationary(p0: float, n: int, real_fraction: float) -> float:
    """Stationary Var[P] of a Bernoulli under ``mix``: v = n q / (n^2 - t (t - 1)), with
    q = p0 (1 - p0) and t = n - round(lambda n) synthetic points (the fixed point of
    :func:`bernoulli_variance_factor`'s mix recursion)."""
    r, t = _split(int(n), float(real_fraction))
    if r == 0:
        raise ConfigError("real_fraction", real_fraction, "a fraction with round(lambda n) >= 1")
    return p0 * (1 - p0) * n / (n * n - t * (t - 1))
