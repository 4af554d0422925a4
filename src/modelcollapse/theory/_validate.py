"""Argument checks shared by the theory modules.

Every public function of :mod:`modelcollapse.theory` validates its inputs here and raises
:class:`~modelcollapse.errors.ConfigError` naming the argument, the offending value and what is
allowed, so that the command line can print the message and exit with status 2.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelcollapse.errors import ConfigError


def _show(value: Any) -> Any:
    """A short, printable stand-in for an offending value (arrays can be huge)."""
    if isinstance(value, np.ndarray):
        return value.item() if value.ndim == 0 else value.ravel()[:1].item()
    return value


def as_generations(k: ArrayLike, field: str = "k") -> NDArray[np.int64]:
    """Generation numbers: integers >= 0 (any array shape)."""
    arr = np.asarray(k)
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(field, _show(k), "integers >= 0")
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if np.any(bad):
            raise ConfigError(field, _show(arr[bad]), "integers >= 0")
    arr = arr.astype(np.int64)
    if np.any(arr < 0):
        raise ConfigError(field, _show(arr[arr < 0]), "integers >= 0")
    return arr


def as_sample_size(n: Any, field: str = "n", minimum: int = 1) -> int:
    """A sample size per generation: an integer >= ``minimum``."""
    try:
        value = int(n)
    except (TypeError, ValueError):
        raise ConfigError(field, n, f"an integer >= {minimum}") from None
    if value != n or value < minimum or isinstance(n, bool):
        raise ConfigError(field, n, f"an integer >= {minimum}")
    return value


def as_probability(p: ArrayLike, field: str = "p0") -> NDArray[np.float64]:
    """Probabilities in [0, 1]."""
    arr = np.asarray(p, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1)
    if np.any(bad):
        raise ConfigError(field, _show(arr[bad]), "a probability in [0, 1]")
    return arr


def as_positive(x: ArrayLike, field: str) -> NDArray[np.float64]:
    """Strictly positive finite reals."""
    arr = np.asarray(x, dtype=float)
    bad = ~np.isfinite(arr) | (arr <= 0)
    if np.any(bad):
        raise ConfigError(field, _show(arr[bad]), "a finite number > 0")
    return arr


def as_nonnegative(x: ArrayLike, field: str) -> NDArray[np.float64]:
    """Non-negative finite reals."""
    arr = np.asarray(x, dtype=float)
    bad = ~np.isfinite(arr) | (arr < 0)
    if np.any(bad):
        raise ConfigError(field, _show(arr[bad]), "a finite number >= 0")
    return arr


def as_counts(c: ArrayLike, field: str = "c", n: int | None = None) -> NDArray[np.int64]:
    """Integer counts in [0, n] (or >= 0 when ``n`` is None)."""
    arr = np.asarray(c)
    allowed = "integers >= 0" if n is None else f"integers in [0, {n}]"
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
        raise ConfigError(field, _show(c), allowed)
    if np.issubdtype(arr.dtype, np.floating):
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if np.any(bad):
            raise ConfigError(field, _show(arr[bad]), allowed)
    arr = arr.astype(np.int64)
    bad = arr < 0 if n is None else (arr < 0) | (arr > n)
    if np.any(bad):
        raise ConfigError(field, _show(arr[bad]), allowed)
    return arr


def as_estimator(estimator: str) -> str:
    """The Gaussian variance estimator: ``"unbiased"`` (divisor n-1) or ``"ml"`` (divisor n)."""
    if estimator not in ("unbiased", "ml"):
        raise ConfigError("estimator", estimator, "'unbiased' (divisor n-1) or 'ml' (divisor n)")
    return estimator


def as_choice(value: str, field: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ConfigError(field, value, "one of " + ", ".join(repr(c) for c in choices))
    return value
