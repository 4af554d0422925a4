"""``modelcollapse verify``: simulation against exact theory over a grid of settings.

In the style of msprime's verification suite: every family and estimator is simulated over a grid
of sample sizes, starting parameters and generations, and each simulated quantity is compared with
the theory module's exact answer, as a z-score (means and probabilities) or a goodness-of-fit
p-value (the whole law of Sigma_k, by a Kolmogorov-Smirnov test against the exact CDF). A check
fails when its p-value is below alpha / (number of checks) (Bonferroni), so the whole run has a
false-failure rate of at most alpha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from modelcollapse.engine import simulate
from modelcollapse.experiments.plotting import COLORS, new_figure, save_figure
from modelcollapse.theory.bernoulli import bernoulli_segregating, bernoulli_survival
from modelcollapse.theory.categorical import expected_gini_simpson, expected_unique
from modelcollapse.theory.gaussian import (
    expected_log_variance,
    sigma_cdf,
    sigma_tail,
    variance_log_variance,
)
from modelcollapse.theory.mvgaussian import logdet_mean, logdet_var, mean_shift_sq_mean, trace_mean
from modelcollapse.theory.poisson import theorem2_survival
from modelcollapse.theory.workflows import bernoulli_variance, gaussian_moments, gini_simpson

#: Workflows checked against theory/workflows.py's exact recursions (real fraction 0.25 where
#: the workflow takes one).
WORKFLOWS = (
    ("replace", None),
    ("accumulate", None),
    ("accumulate-subsample", None),
    ("mix", 0.25),
    ("mix-fixed", 0.25),
)


def light_tailed(n: int, ks: np.ndarray, d: int = 1) -> np.ndarray:
    """Generations at which a z-test on a mean of Sigma_k^2 (or of (M_k - mu0)^2) is sound.

    Under replace, E[Sigma_k^4] / E[Sigma_k^2]^2 grows like ((n + 1)/(n - 1))^k (chi-square
    fourth moments), so for small n and large k the sample mean is dominated by rare huge
    values and its standard error is unreliable. Only k with ((n + 1 - d + 1)/(n - d))^k <= 2
    (relative variance at most 1) are checked; log-scale quantities have no such limit."""
    ratio = (n - d + 2) / (n - d)
    return np.asarray(ks)[ratio ** np.asarray(ks, dtype=float) <= 2.0]

#: What each family's overlay plot shows.
Y_LABELS = {
    "bernoulli": "Pr(P_k ≠ 0)",
    "poisson": "Pr(Λ_k ≠ 0)",
    "gaussian": "Pr(Σ_k > 0.5)",
    "categorical": "E[uniq_k]",
}


@dataclass
class Check:
    family: str
    setting: str
    quantity: str
    k: int
    ours: float
    exact: float
    stderr: float | None
    p_value: float
    kind: str  # "z" or "ks"

    @property
    def z(self) -> float | None:
        if self.kind != "z" or not self.stderr:
            return None
        return (self.ours - self.exact) / self.stderr


def _z_checks(
    family, setting, quantity, ks, sim, se, exact, trials: int | None = None
) -> list[Check]:
    """One check per generation. For a probability (``trials`` given) the p-value is the exact
    two-sided binomial test, right even where the normal approximation is not (probabilities
    near 0 or 1); for a mean it is the normal z-test."""
    out = []
    for k, o, e, x in zip(ks, sim, se, exact, strict=True):
        if trials is not None:
            hits = int(round(o * trials))
            p = float(stats.binomtest(hits, trials, min(max(float(x), 0.0), 1.0)).pvalue)
        elif e > 0:
            p = float(2 * stats.norm.sf(abs((o - x) / e)))
        else:
            # No Monte Carlo spread: all trials agree, so theory must give the same value.
            p = 1.0 if abs(o - x) < 1e-9 * max(1.0, abs(x)) else 0.0
        out.append(Check(family, setting, quantity, int(k), float(o), float(x), float(e), p, "z"))
    return out


def _pick(result, metric, ks):
    gens, v, s = result.metric(metric)
    idx = np.searchsorted(gens, ks)
    return v[idx], s[idx]


def run_checks(quick: bool, seed: int = 1) -> tuple[list[Check], dict[str, Any]]:
    """Simulate the grid; return the checks and the curves for the overlay plots."""
    T = 4000 if quick else 40_000
    ks = np.array([1, 2, 5, 10, 20] if quick else [1, 2, 5, 10, 20, 50])
    G = int(ks.max())
    checks: list[Check] = []
    curves: dict[str, Any] = {}
    s = seed

    for n in [20, 100] if quick else [10, 50, 200, 1000]:
        for p0 in [0.05, 0.3] if quick else [0.01, 0.05, 0.3, 0.5]:
            for method in ["exact"] if quick else ["exact", "naive"]:
                s += 1
                r = simulate(
                    "bernoulli",
                    params={"p": p0},
                    n=n,
                    generations=G,
                    trials=T,
                    seed=s,
                    method=method,
                )
                setting = f"n={n} p0={p0} {method}"
                v, e = _pick(r, "survival", ks)
                checks += _z_checks(
                    "bernoulli", setting, "Pr(P_k != 0)", ks, v, e, bernoulli_survival(p0, n, ks), T
                )
                v, e = _pick(r, "nondegenerate", ks)
                checks += _z_checks(
                    "bernoulli",
                    setting,
                    "Pr(P_k not in {0,1})",
                    ks,
                    v,
                    e,
                    bernoulli_segregating(p0, n, ks),
                    T,
                )
                gens, surv, se = r.metric("survival")
                curves.setdefault("bernoulli", []).append(
                    (setting, gens, surv, se, bernoulli_survival(p0, n, gens))
                )

    for n in [10] if quick else [5, 10, 50]:
        for lam in [0.3, 2.0] if quick else [0.1, 0.5, 2.0, 5.0]:
            s += 1
            r = simulate("poisson", params={"lambda": lam}, n=n, generations=G, trials=T, seed=s)
            v, e = _pick(r, "survival", ks)
            setting = f"n={n} lambda0={lam}"
            checks += _z_checks(
                "poisson", setting, "Pr(Lambda_k != 0)", ks, v, e, theorem2_survival(lam, n, ks), T
            )
            gens, surv, se = r.metric("survival")
            curves.setdefault("poisson", []).append(
                (setting, gens, surv, se, theorem2_survival(lam, n, gens))
            )

    for estimator in ("unbiased", "ml"):
        for n in [10, 100] if quick else [3, 10, 100, 1000]:
            s += 1
            eps = 0.5
            r = simulate(
                "gaussian",
                params={"sigma": 1.0},
                estimator=estimator,
                n=n,
                generations=G,
                trials=T,
                seed=s,
                eps=[eps],
                trajectories=min(T, 2000),
                metrics="all",  # the mean-shift check needs a metric outside the default set
            )
            setting = f"n={n} {estimator}"
            v, e = _pick(r, "log_sigma2_mean", ks)
            checks += _z_checks(
                "gaussian",
                setting,
                "E[log Sigma_k^2]",
                ks,
                v,
                e,
                expected_log_variance(1.0, n, ks, estimator),
            )
            v, e = _pick(r, "log_sigma2_var", ks)
            checks += _z_checks(
                "gaussian", setting, "Var[log Sigma_k^2]", ks, v, e, variance_log_variance(n, ks)
            )
            # E[(M_k - mu_0)^2] = (sigma_0^2 / n) sum_{j<k} ((n-1)/d)^j, = k sigma_0^2 / n for the
            # unbiased divisor; E[Sigma_k^2] = ((n-1)/d)^k sigma_0^2 (theory/workflows.py, replace).
            kk = light_tailed(n, ks)
            if kk.size:
                m_exact, s_exact = gaussian_moments(1.0, n, G, "replace", None, estimator)
                v, e = _pick(r, "mean_shift_sq_mean", kk)
                checks += _z_checks(
                    "gaussian", setting, "E[(M_k - mu_0)^2]", kk, v, e, m_exact[kk]
                )
                v, e = _pick(r, "sigma2_mean", kk)
                checks += _z_checks("gaussian", setting, "E[Sigma_k^2]", kk, v, e, s_exact[kk])
            v, e = _pick(r, f"sigma_above[eps={eps:g}]", ks)
            checks += _z_checks(
                "gaussian",
                setting,
                f"Pr(Sigma_k > {eps})",
                ks,
                v,
                e,
                sigma_tail(eps, 1.0, n, ks, estimator),
                T,
            )
            traj = r.trajectories
            for k in (ks[0], ks[-1]):
                sample = traj["sigma"].to_numpy()[traj["generation"].to_numpy() == k]
                p = stats.kstest(
                    sample,
                    lambda x, k=k, n=n, est=estimator: sigma_cdf(
                        np.maximum(x, 1e-300), 1.0, n, k, est
                    ),
                ).pvalue
                checks.append(
                    Check(
                        "gaussian",
                        setting,
                        "law of Sigma_k (KS)",
                        int(k),
                        float(np.median(sample)),
                        math.nan,
                        None,
                        float(p),
                        "ks",
                    )
                )
            gens, prob, se = r.metric(f"sigma_above[eps={eps:g}]")
            curves.setdefault("gaussian", []).append(
                (setting, gens, prob, se, sigma_tail(eps, 1.0, n, gens, estimator))
            )

    for counts, n in (([1, 1, 2, 3, 5, 8], 20), ([1] * 10 + [5] * 4 + [30], 60)):
        s += 1
        r = simulate("categorical", params={"counts": counts}, n=n, generations=G, trials=T, seed=s)
        setting = f"m={len(counts)} n={n}"
        v, e = _pick(r, "uniq_mean", ks)
        checks += _z_checks(
            "categorical", setting, "E[uniq_k]", ks, v, e, expected_unique(ks, counts=counts, n=n)
        )
        v, e = _pick(r, "gini_simpson_mean", ks)
        checks += _z_checks(
            "categorical",
            setting,
            "E[Gini-Simpson_k]",
            ks,
            v,
            e,
            expected_gini_simpson(ks, counts=counts, n=n),
        )
        gens, uniq, se = r.metric("uniq_mean")
        curves.setdefault("categorical", []).append(
            (setting, gens, uniq, se, expected_unique(gens, counts=counts, n=n))
        )
    s = _workflow_checks(checks, ks, G, T, s)
    s = _mixture_checks(checks, ks, G, T, s)
    s = _mvgaussian_checks(checks, ks, G, T, s, quick)
    return checks, curves


def _workflow_checks(checks: list[Check], ks: np.ndarray, G: int, T: int, s: int) -> int:
    """Every workflow against the exact moment recursions of theory/workflows.py: Var[P_k]
    (Bernoulli), E[Gini-Simpson_k] (categorical) and, where the recursion exists, E[(M_k -
    mu_0)^2] and E[Sigma_k^2] (Gaussian)."""
    p0, n = 0.3, 20
    counts = [1, 2, 3, 5, 9]
    probs = np.asarray(counts, dtype=float) / sum(counts)
    for workflow, lam in WORKFLOWS:
        setting = f"n={n} {workflow}" + (f" real_fraction={lam}" if lam else "")
        s += 1
        r = simulate(
            "bernoulli", params={"p": p0}, n=n, generations=G, trials=T, seed=s,
            workflow=workflow, real_fraction=lam, metrics=["p_var"],
        )
        v, e = _pick(r, "p_var", ks)
        exact = bernoulli_variance(p0, n, G, workflow, lam)[ks]
        checks += _z_checks("workflow bernoulli", setting, "Var[P_k]", ks, v, e, exact)
        s += 1
        r = simulate(
            "categorical", params={"counts": counts}, n=sum(counts), generations=G, trials=T,
            seed=s, workflow=workflow, real_fraction=lam, metrics=["gini_simpson_mean"],
        )
        v, e = _pick(r, "gini_simpson_mean", ks)
        exact = gini_simpson(probs, sum(counts), G, workflow, lam)[ks]
        checks += _z_checks("workflow categorical", setting, "E[Gini-Simpson_k]", ks, v, e, exact)
        if workflow == "accumulate-subsample":
            continue  # no closed recursion for the Gaussian moments (theory/workflows.py)
        s += 1
        r = simulate(
            "gaussian", params={"mu": 0.0, "sigma": 1.0}, n=n, generations=G, trials=T, seed=s,
            workflow=workflow, real_fraction=lam, metrics=["mean_shift_sq_mean", "sigma2_mean"],
        )
        m_exact, s_exact = gaussian_moments(1.0, n, G, workflow, lam, "unbiased")
        kk = light_tailed(n, ks) if workflow == "replace" else ks
        v, e = _pick(r, "mean_shift_sq_mean", kk)
        checks += _z_checks("workflow gaussian", setting, "E[(M_k - mu_0)^2]", kk, v, e, m_exact[kk])
        v, e = _pick(r, "sigma2_mean", kk)
        checks += _z_checks("workflow gaussian", setting, "E[Sigma_k^2]", kk, v, e, s_exact[kk])
    return s


def _mixture_checks(checks: list[Check], ks: np.ndarray, G: int, T: int, s: int) -> int:
    """Symmetric two-component mixture: both estimators keep the second moment, mu^2 + s^2 =
    mean of y^2 (SPEC.md section 4: every stationary point of the joint likelihood, and the
    approximate estimator by construction), and E[y^2 | theta] = mu^2 + s^2, so E[M_k^2 + S_k^2]
    = mu_0^2 + sigma_0^2 at every k (a martingale). z-tests on per-trial values, at generations
    where the spread has not collapsed enough to make the mean heavy-tailed (light_tailed)."""
    mu0, s0, n = 1.0, 1.0, 20
    kk = light_tailed(n, ks)
    for estimator in ("joint-ml", "approx-ml"):
        s += 1
        r = simulate(
            "mixture2", params={"mu": mu0, "sigma": s0}, estimator=estimator, n=n,
            generations=int(kk.max()), trials=T, seed=s, trajectories=True,
            metrics=["mu_mean"],
        )
        traj = r.trajectories
        second = traj["mu"] ** 2 + traj["sigma"] ** 2
        gens = traj["generation"]
        v = np.array([second[gens == k].mean() for k in kk])
        e = np.array([second[gens == k].std(ddof=1) / math.sqrt(T) for k in kk])
        checks += _z_checks(
            "mixture2", f"n={n} mu0={mu0} {estimator}", "E[M_k^2 + S_k^2]", kk, v, e,
            np.full(kk.size, mu0**2 + s0**2),
        )
    return s


def _mvgaussian_checks(
    checks: list[Check], ks: np.ndarray, G: int, T: int, s: int, quick: bool
) -> int:
    """Multivariate Gaussian (exact Wishart step) against theory/mvgaussian.py: E and Var of
    log det Sigma_k - log det Sigma_0 (sums of log-chi-squares), E[tr Sigma_k / tr Sigma_0] and
    E|M_k - M_0|^2 (the last two where light-tailed)."""
    cov = np.array([[1.0, 0.3, 0.0], [0.3, 2.0, 0.5], [0.0, 0.5, 1.5]])
    d = cov.shape[0]
    for estimator in ("unbiased", "ml"):
        for n in [10] if quick else [6, 10, 50]:
            s += 1
            r = simulate(
                "mvgaussian", params={"mean": [0.0] * d, "cov": cov.tolist()},
                estimator=estimator, n=n, generations=G, trials=T, seed=s,
                metrics=["logdet_ratio_mean", "logdet_ratio_var", "trace_ratio_mean",
                         "mean_shift_sq_mean"],
            )
            setting = f"d={d} n={n} {estimator}"
            v, e = _pick(r, "logdet_ratio_mean", ks)
            checks += _z_checks(
                "mvgaussian", setting, "E[log det ratio]", ks, v, e,
                logdet_mean(ks, n, d, estimator),
            )
            v, e = _pick(r, "logdet_ratio_var", ks)
            checks += _z_checks(
                "mvgaussian", setting, "Var[log det ratio]", ks, v, e, logdet_var(ks, n, d)
            )
            kk = light_tailed(n, ks, d)
            if kk.size:
                v, e = _pick(r, "trace_ratio_mean", kk)
                checks += _z_checks(
                    "mvgaussian", setting, "E[tr ratio]", kk, v, e,
                    trace_mean(kk, n, 1.0, estimator, d),
                )
                v, e = _pick(r, "mean_shift_sq_mean", kk)
                checks += _z_checks(
                    "mvgaussian", setting, "E|M_k - M_0|^2", kk, v, e,
                    mean_shift_sq_mean(kk, n, float(np.trace(cov)), estimator, d),
                )
    return s


def write_verification(
    out: Path, checks: list[Check], curves: dict[str, Any], alpha: float
) -> tuple[int, Any]:
    """Write verify.csv-like Parquet table, overlay figures; return the number of failures."""
    m = len(checks)
    threshold = alpha / m
    import pandas as pd

    table = pd.DataFrame(
        {
            "family": np.array([c.family for c in checks], dtype=object),
            "setting": np.array([c.setting for c in checks], dtype=object),
            "quantity": np.array([c.quantity for c in checks], dtype=object),
            "k": np.array([c.k for c in checks]),
            "ours": np.array([c.ours for c in checks]),
            "exact": np.array([c.exact for c in checks]),
            "stderr": np.array([np.nan if c.stderr is None else c.stderr for c in checks]),
            "z": np.array([np.nan if c.z is None else c.z for c in checks]),
            "p_value": np.array([c.p_value for c in checks]),
            "passed": np.array([c.p_value >= threshold for c in checks]),
        }
    )
    for family, items in curves.items():
        fig, (ax,) = new_figure(width=7.0, height=4.4)
        for i, (setting, gens, sim, se, exact) in enumerate(items):
            colour = f"C{i % 10}"
            ax.errorbar(
                gens[1:],
                sim[1:],
                yerr=2 * se[1:],
                fmt="o",
                ms=2.5,
                lw=0.8,
                color=colour,
                label=setting,
            )
            ax.plot(gens[1:], exact[1:], "-", color=COLORS["exact"], lw=0.8)
        ax.set_xlabel("generation k")
        ax.set_ylabel(Y_LABELS.get(family, ""))
        ax.set_title(f"{family}: simulation (points ±2 s.e.) vs exact theory (black lines)")
        ax.legend(ncol=2)
        save_figure(fig, out / "figures", f"verify-{family}")
    return int((~table["passed"]).sum()), table
