"""Zipf-Mandelbrot distributions and their empirical versions.

p_i proportional to 1 / (i + b)^a for ranks i = 1..m (Mandelbrot's generalisation of Zipf's
law; a = 1, b = 0 is Zipf's). The paper's synthetic unigram experiment (Suresh, Thangaraj and
Khandavally, AISTATS 2025, Fig. 4) starts the recursion from the *empirical* distribution of
n = 1000 draws from such a law with m = 1000 and (a, b) in {(1, 2.7), (2, 5)}: the symbols
never drawn are not part of the vocabulary.
"""

from __future__ import annotations

import numpy as np

from modelcollapse.errors import ConfigError


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    return int(value)


def _check_real(name: str, value: object, low: float, strict: bool) -> float:
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        x = float("nan")
    if not np.isfinite(x) or (x <= low if strict else x < low):
        raise ConfigError(name, value, f"a finite number {'>' if strict else '>='} {low:g}")
    return x


def zipf_mandelbrot(m: int, a: float, b: float = 0.0) -> np.ndarray:
    """Probabilities p_i = (i + b)^(-a) / H, i = 1..m, H = sum_j (j + b)^(-a).

    Parameters
    ----------
    m : number of symbols (>= 1).
    a : exponent (finite, >= 0; a = 0 is uniform).
    b : shift (finite, > -1, so that every i + b is positive).

    Returns
    -------
    ndarray of shape (m,), decreasing, summing to 1 (to rounding).
    """
    m = _check_int("m", m, 1)
    a = _check_real("a", a, 0.0, strict=False)
    b = _check_real("b", b, -1.0, strict=True)
    # Logs, then subtract the largest, so large a does not underflow the tail to exact zeros
    # before normalising.
    logw = -a * np.log(np.arange(1, m + 1, dtype=float) + b)
    w = np.exp(logw - logw.max())
    return w / w.sum()


def empirical_zipf(
    m: int,
    a: float,
    b: float,
    n: int,
    rng: np.random.Generator,
    *,
    drop_unseen: bool = True,
) -> np.ndarray:
    """Counts of ``n`` i.i.d. draws from ``zipf_mandelbrot(m, a, b)``.

    C ~ Multinomial(n, p). With ``drop_unseen`` (default) the symbols with count 0 are removed,
    so the result is a valid categorical start whose every symbol is alive (the paper's m is the
    number of symbols seen). The order of ranks is kept.
    """
    p = zipf_mandelbrot(m, a, b)
    n = _check_int("n", n, 1)
    counts = rng.multinomial(n, p).astype(np.int64)
    return counts[counts > 0] if drop_unseen else counts
