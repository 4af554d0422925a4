"""``modelcollapse theory``: the paper's bounds next to the exact values, and calculators.

Each family sub-command prints one row per generation k = 0..K: g_k, the bounds, and the exact
value computed without Monte Carlo (``modelcollapse.theory``). ``--json`` prints the same rows as
a JSON list of records. ``theory forget`` answers "when is a symbol forgotten?" and "how much of
this corpus's vocabulary is left after k generations?"; ``theory collapse`` answers "by which
generation has a Gaussian's standard deviation fallen below eps with probability 1 - delta?".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import click
import numpy as np

from modelcollapse import theory as th
from modelcollapse.commands._common import (
    JSON_OPTION,
    handles_config_errors,
    json_dumps,
    parse_params,
    stack_options,
)
from modelcollapse.errors import ConfigError

__all__ = ["theory"]


def _param(params: dict[str, Any], names: Sequence[str], default: Any = None) -> Any:
    """The value of the first of ``names`` given with --param; unknown names are rejected."""
    for key in params:
        if key not in names:
            raise ConfigError("--param", key, "one of " + ", ".join(names))
    for name in names:
        if name in params:
            value = params[name]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"--param {name}", value, "a number")
            return float(value)
    if default is None:
        raise ConfigError("--param", "missing", f"{names[0]}=VALUE is required")
    return default


def _clean(value: Any) -> Any:
    """JSON-safe scalars: numpy to Python, non-finite floats to None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _records(columns: dict[str, Any]) -> list[dict[str, Any]]:
    arrays = {k: np.asarray(v) for k, v in columns.items()}
    length = max(a.size for a in arrays.values())
    return [
        {k: _clean(a.ravel()[i] if a.size > 1 else a.ravel()[0]) for k, a in arrays.items()}
        for i in range(length)
    ]


def _format(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0.0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-4:
            return f"{value:.4e}"
        return f"{value:.6f}"
    return str(value)


def _emit(records: list[dict[str, Any]], as_json: bool, title: str | None = None) -> None:
    if as_json:
        click.echo(json_dumps(records))
        return
    if title:
        click.echo(title)
    if not records:
        return
    keys = list(records[0])
    cells = [[_format(r[k]) for k in keys] for r in records]
    widths = [max(len(k), *(len(row[i]) for row in cells)) for i, k in enumerate(keys)]
    click.echo("  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True)))
    for row in cells:
        click.echo("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


#: Most generations a theory command accepts: far beyond any horizon of interest (the paper's
#: go to 10^3), and far inside int64 and the integers float64 holds exactly, so that
#: generations + 1 and every formula in k stay exact; 2**63 or 10^12 are refused at once.
MAX_GENERATIONS = 10**9
#: Most rows a theory command prints: each row is a record of a dozen numbers (about 2 kB as
#: Python objects), so 10^6 rows is already about 2 GB; thin longer horizons with --every.
MAX_ROWS = 10**6


def _generations(generations: int, every: int = 1) -> np.ndarray:
    """Generations 0, K, 2K, ... up to ``generations`` (always included), checked first."""
    if not 0 <= generations <= MAX_GENERATIONS:
        raise ConfigError("--generations", generations, f"an integer in [0, {MAX_GENERATIONS:,}]")
    if not 1 <= every <= MAX_GENERATIONS:
        raise ConfigError("--every", every, f"an integer in [1, {MAX_GENERATIONS:,}]")
    rows = generations // every + 1 + (generations % every != 0)
    if rows > MAX_ROWS:
        need = -(-generations // (MAX_ROWS - 1))
        raise ConfigError(
            "--generations",
            generations,
            f"at most {MAX_ROWS:,} printed rows (here {rows:,}); add --every {need} or more",
        )
    k = np.arange(0, generations + 1, every, dtype=np.int64)
    return k if k[-1] == generations else np.append(k, generations)


def _read_counts(path: str) -> np.ndarray:
    from modelcollapse.data.counts import read_counts

    return read_counts(path)[1]


#: The Gaussian variance divisor, shared by the commands about scale families.
_estimator_option = click.option(
    "--estimator",
    type=click.Choice(["unbiased", "ml"]),
    default="unbiased",
    show_default=True,
    help="Variance divisor n-1 (unbiased) or n (ml).",
)

EVERY_OPTION = click.option(
    "--every",
    "every",
    type=int,
    default=1,
    show_default=True,
    help="Print every K-th generation (the last one is always printed).",
)

_with_common = stack_options(
    click.option("--n", "n", type=int, required=True, help="Samples per generation."),
    click.option(
        "--generations",
        "generations",
        type=int,
        default=50,
        show_default=True,
        help="Print generations 0..K.",
    ),
    EVERY_OPTION,
    JSON_OPTION,
)


@click.group(name="theory")
def theory() -> None:
    """Bounds of the paper next to exact values (no Monte Carlo), and calculators."""


@theory.command(name="bernoulli")
@click.option("--param", "params", multiple=True, help="p=P0 (initial probability).")
@click.option(
    "--method",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "matrix", "truncated", "diffusion", "branching"]),
    help="How the exact binomial-chain values are computed.",
)
@_with_common
@handles_config_errors
def bernoulli_cmd(
    params: tuple[str, ...], method: str, n: int, generations: int, every: int, as_json: bool
) -> None:
    """Pr(P_k != 0) and Pr(P_k not in {0,1}): Theorem 1, its extension, Seddik et al., exact."""
    p0 = _param(parse_params(params), ("p", "p0"))
    k = _generations(generations, every)
    lo, hi = th.theorem1_bounds(p0, n, k)
    slo, shi = th.theorem1_extension_bounds(p0, n, k)
    dlo, dhi = th.seddik_bounds(p0, n, k)
    cols = {
        "generation": k,
        "g_k": th.g_k(k),
        "lower": lo,
        "exact": th.bernoulli_survival(p0, n, k, method=method),
        "upper": hi,
        "segregating_lower": slo,
        "segregating_exact": th.bernoulli_segregating(p0, n, k, method=method),
        "segregating_upper": shi,
        "seddik_lower": dlo,
        "seddik_upper": dhi,
    }
    _emit(
        _records(cols),
        as_json,
        f"Bernoulli p0={p0:g} n={n}: Pr(P_k != 0) and Pr(P_k not in {{0,1}})",
    )


@theory.command(name="poisson")
@click.option("--param", "params", multiple=True, help="lam=LAMBDA0 (also lambda, lam0).")
@_with_common
@handles_config_errors
def poisson_cmd(
    params: tuple[str, ...], n: int, generations: int, every: int, as_json: bool
) -> None:
    """Pr(Lambda_k != 0) by Theorem 2, which is exact (1 - exp(-n lambda0 g_k))."""
    lam = _param(parse_params(params), ("lam", "lambda", "lam0"))
    k = _generations(generations, every)
    # Theorem 2 is exact: no lower and upper columns that would only repeat it.
    cols = {"generation": k, "g_k": th.g_k(k), "exact": th.theorem2_survival(lam, n, k)}
    _emit(
        _records(cols),
        as_json,
        f"Poisson lambda0={lam:g} n={n}: Pr(Lambda_k != 0) (Theorem 2 is exact)",
    )


@theory.command(name="categorical")
@click.option(
    "--counts",
    "counts_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A file of symbol<TAB>count lines (or give --param p=...).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    help="p=P1,P2,... (start probabilities summing to 1; needs --n), instead of --counts.",
)
@click.option(
    "--n", "n", type=int, default=None, help="Samples per generation (default: corpus size)."
)
@click.option("--generations", "generations", type=int, default=10, show_default=True)
@EVERY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")
@handles_config_errors
def categorical_cmd(
    counts_file: str | None,
    params: tuple[str, ...],
    n: int | None,
    generations: int,
    every: int,
    as_json: bool,
) -> None:
    """E[uniq_k]: Corollary 1 bounds and the exact value, as counts and fractions."""
    parsed = parse_params(params)
    k = _generations(generations, every)
    if counts_file is not None:
        if parsed:
            raise ConfigError("--param", next(iter(parsed)), "not together with --counts")
        start: dict[str, Any] = {"counts": _read_counts(counts_file), "n": n}
    else:
        probs = _probabilities(parsed)
        if n is None:
            raise ConfigError("--n", None, "an integer >= 1 (required with --param p=...)")
        start = {"probs": probs, "n": n}
    lo, hi = th.corollary1_bounds(k, **start)
    exact = th.expected_unique(k, **start)
    _, mult, nn = th.grouped_start(**start)
    m = int(mult.sum())
    cols = {
        "generation": k,
        "g_k": th.g_k(k),
        "lower": lo,
        "exact": exact,
        "upper": hi,
        "lower_fraction": lo / m,
        "exact_fraction": exact / m,
        "upper_fraction": hi / m,
    }
    _emit(_records(cols), as_json, f"Categorical m={m} symbols, n={nn}: E[uniq_k]")


def _probabilities(parsed: dict[str, Any]) -> np.ndarray:
    """The start probabilities of ``--param p=P1,P2,...`` (also ``probs``), checked."""
    for key in parsed:
        if key not in ("p", "probs"):
            raise ConfigError("--param", key, "p=P1,P2,... (or --counts FILE)")
    if not parsed:
        raise ConfigError("--counts", None, "a counts file, or --param p=P1,P2,...")
    value = next(iter(parsed.values()))
    values = value if isinstance(value, list) else [value]
    if not values or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        raise ConfigError("--param p", value, "comma-separated numbers, e.g. p=0.5,0.3,0.2")
    return np.asarray(values, dtype=float)


@theory.command(name="gaussian")
@click.option("--param", "params", multiple=True, help="sigma=SIGMA0 (default 1).")
@click.option("--eps", type=float, default=0.1, show_default=True, help="Threshold on Sigma_k.")
@_estimator_option
@click.option(
    "--s",
    "s",
    type=float,
    default=0.35,
    show_default=True,
    help="Exponent of the paper's moment bound.",
)
@_with_common
@handles_config_errors
def gaussian_cmd(
    params: tuple[str, ...],
    eps: float,
    estimator: str,
    s: float,
    n: int,
    generations: int,
    every: int,
    as_json: bool,
) -> None:
    """Pr(Sigma_k > eps): exact, Theorem 3, moment bounds, Bertrand et al.; exact moments."""
    sigma0 = _param(parse_params(params), ("sigma", "sigma0"), 1.0)
    k = _generations(generations, every)
    best, best_s = th.best_moment_bound(eps, sigma0, n, k, estimator=estimator)
    cols = {
        "generation": k,
        "exact": th.sigma_tail(eps, sigma0, n, k, estimator),
        "theorem3": th.theorem3_bound(eps, sigma0, n, k),
        "moment": th.moment_bound(eps, sigma0, n, k, s=s, estimator=estimator),
        "best_moment": best,
        "best_s": best_s,
        "bertrand": th.bertrand_bound(eps, sigma0, n, k, estimator=estimator),
        "mean_log_variance": th.expected_log_variance(sigma0, n, k, estimator),
        "var_log_variance": th.variance_log_variance(n, k),
        "mean_variance": th.expected_variance(sigma0, n, k, estimator),
        "mean_sigma": th.expected_sigma(sigma0, n, k, estimator),
        "median_sigma": th.sigma_quantile(0.5, sigma0, n, k, estimator),
    }
    _emit(
        _records(cols),
        as_json,
        f"Gaussian sigma0={sigma0:g} n={n} {estimator}: Pr(Sigma_k > {eps:g}) and moments",
    )


@theory.command(name="regression")
@click.option("--d", "d", type=int, required=True, help="Features d.")
@click.option("--rows", type=int, required=True, help="Rows T per generation (T > d + 1).")
@click.option("--sigma", type=float, default=1.0, show_default=True, help="Noise sigma.")
@click.option("--generations", type=int, default=20, show_default=True, help="Print 0..K.")
@JSON_OPTION
@handles_config_errors
def regression_cmd(d: int, rows: int, sigma: float, generations: int, as_json: bool) -> None:
    """E||w_k - w_0||^2 of OLS refitted on its own labels: replace vs accumulate (exact)."""
    k = _generations(generations)
    kw = {"d": d, "rows": rows, "sigma": sigma}
    cols = {
        "generation": k,
        "replace": th.regression_test_error(k, workflow="replace", **kw),
        "accumulate": th.regression_test_error(k, workflow="accumulate", **kw),
        "accumulate_fixed_design": th.regression_test_error(
            k, workflow="accumulate", design="fixed", **kw
        ),
        "accumulate_limit": np.full(k.size, th.regression_accumulate_limit(**kw)),
    }
    _emit(
        _records(cols),
        as_json,
        f"OLS d={d} T={rows} sigma={sigma:g}: E||w_k - w_0||^2 (fresh Gaussian design unless "
        "noted; the fixed design is averaged over its draw)",
    )


@theory.command(name="truncation")
@click.option("--param", "params", multiple=True, help="sigma=SIGMA0 (default 1).")
@click.option("--psi", type=float, required=True, help="Truncation factor psi on sigma.")
@_estimator_option
@_with_common
@handles_config_errors
def truncation_cmd(
    params: tuple[str, ...],
    psi: float,
    estimator: str,
    n: int,
    generations: int,
    every: int,
    as_json: bool,
) -> None:
    """Gaussian sampled with sigma scaled by psi: exact log-variance drift and moments.

    Generation 1 trains on real data (no psi); the truncation acts from generation 2 on.
    """
    sigma0 = _param(parse_params(params), ("sigma", "sigma0"), 1.0)
    k = _generations(generations, every)
    cols = {
        "generation": k,
        "mean_log_variance": th.truncation_expected_log_variance(sigma0, n, k, psi, estimator),
        "mean_variance": th.truncation_expected_variance(sigma0, n, k, psi, estimator),
        "mean_shift_sq": th.truncation_mean_shift(sigma0, n, k, psi, estimator),
    }
    drift = th.truncation_log_variance_drift(n, psi, estimator)
    _emit(
        _records(cols),
        as_json,
        f"Gaussian sigma0={sigma0:g} n={n} {estimator}, truncation psi={psi:g}: "
        f"log-variance drift {drift:.6f} per generation from generation 2 (generation 1 "
        "trains on real data)",
    )


@theory.command(name="mixture2")
@click.option("--param", "params", multiple=True, help="sigma=SIGMA0 (default 1).")
@click.option("--eps", type=float, default=0.1, show_default=True, help="Threshold on Sigma_k.")
@_with_common
@handles_config_errors
def mixture2_cmd(
    params: tuple[str, ...], eps: float, n: int, generations: int, every: int, as_json: bool
) -> None:
    """Pr(Sigma_k > eps) for the symmetric 2-GMM: Theorem 4 (no exact law is known)."""
    names = ("sigma", "sigma0", "mu", "mu0")
    parsed = parse_params(params)
    sigma0 = _param({k: v for k, v in parsed.items() if k in names[:2]}, names[:2], 1.0)
    _param(parsed, names, 1.0)  # reject unknown names; mu does not enter the bound
    k = _generations(generations, every)
    cols = {"generation": k, "upper": th.theorem4_bound(eps, sigma0, n, k), "exact": None}
    _emit(
        _records(cols), as_json, f"Symmetric 2-GMM sigma0={sigma0:g} n={n}: Pr(Sigma_k > {eps:g})"
    )


@theory.command(name="forget")
@click.option(
    "--count",
    "count_values",
    type=int,
    multiple=True,
    help="Times the symbol was seen (repeatable).",
)
@click.option("--n", "n", type=int, default=None, help="Tokens per generation (corpus size).")
@click.option(
    "--quantile",
    "quantiles",
    type=float,
    multiple=True,
    help="Probability of having forgotten (repeatable; default 0.5 and 0.9).",
)
@click.option(
    "--counts",
    "counts_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="A counts file: print the expected fraction of the vocabulary left instead.",
)
@click.option("--generations", "generations", type=int, default=10, show_default=True)
@click.option(
    "--every",
    "every",
    type=int,
    default=1,
    show_default=True,
    help="With --counts: print every K-th generation (the last one is always printed).",
)
@click.option(
    "--exact-budget",
    "budget",
    type=float,
    default=th.FORGET_EXACT_BUDGET,
    show_default=True,
    help="Multiply-adds the exact chain may spend per answer (4e9: about 10 s); beyond, the "
    "answer is an approximation, marked exact=False, with the range of the exact value.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")
@handles_config_errors
def forget_cmd(
    count_values: tuple[int, ...],
    n: int | None,
    quantiles: tuple[float, ...],
    counts_file: str | None,
    generations: int,
    every: int,
    budget: float,
    as_json: bool,
) -> None:
    """When is a symbol seen c times in n tokens forgotten? How much vocabulary is left?"""
    if not (math.isfinite(budget) and budget > 0):
        raise ConfigError("--exact-budget", budget, "a finite number > 0 (multiply-adds)")
    if counts_file is not None:
        if count_values:
            raise ConfigError("--count", count_values[0], "not together with --counts")
        counts = _read_counts(counts_file)
        k = _generations(generations, every)
        res = th.vocabulary_left(counts, k, n=n)
        cols = {
            "generation": res.generation,
            "lower": res.lower,
            "exact": res.exact,
            "upper": res.upper,
        }
        _emit(_records(cols), as_json, "Expected fraction of the vocabulary left")
        return
    if not count_values:
        raise ConfigError("--count", None, "at least one --count, or --counts FILE")
    if n is None:
        raise ConfigError("--n", None, "an integer >= 1 (the corpus size)")
    qs = quantiles or (0.5, 0.9)
    for q in qs:
        if not 0.0 < q < 1.0:
            raise ConfigError("--quantile", q, "a probability in (0, 1)")
    c = np.array(count_values)[:, None]
    q = np.array(qs)[None, :]
    res = th.forgetting_generation_bracket(c, n, q, budget=budget)
    branch = th.forgetting_generation_branching(c, q)
    cc, qq = np.broadcast_arrays(c, q)

    def as_int(values: np.ndarray) -> list[int | None]:
        return [int(v) if math.isfinite(v) else None for v in values.ravel()]

    cols = {
        "count": cc.ravel(),
        "n": n,
        "quantile": qq.ravel(),
        "generation": as_int(res.generation),
        "exact": res.exact.ravel(),
        "low": as_int(res.low),
        "high": as_int(res.high),
        "branching_generation": as_int(branch),
    }
    title = "Generation by which the symbol is lost with the given probability (- = never)"
    if not np.all(res.exact):
        title += (
            "\nexact=False: too costly to certify within --exact-budget; an approximation, and "
            "the exact generation lies in [low, high]"
        )
    _emit(_records(cols), as_json, title)


@theory.command(name="collapse")
@click.option("--param", "params", multiple=True, help="sigma=SIGMA0 (default 1).")
@click.option("--eps", type=float, default=0.1, show_default=True)
@click.option("--delta", type=float, default=0.05, show_default=True)
@_estimator_option
@click.option("--n", "n", type=int, required=True, help="Samples per generation.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON records instead of a table.")
@handles_config_errors
def collapse_cmd(
    params: tuple[str, ...], eps: float, delta: float, estimator: str, n: int, as_json: bool
) -> None:
    """First generation from which Pr(Sigma_k > eps) < delta (Gaussian, exact)."""
    sigma0 = _param(parse_params(params), ("sigma", "sigma0"), 1.0)
    k = th.gaussian_collapse_generation(eps, delta, sigma0, n, estimator)
    rec = {
        "sigma0": sigma0,
        "n": n,
        "estimator": estimator,
        "eps": eps,
        "delta": delta,
        "generation": k,
    }
    _emit([rec], as_json, "Gaussian collapse generation")
