"""What this machine and numpy can hold: sizes, memory and work, checked before any work starts.

Every check raises ``ConfigError`` naming the field, the value as the user gave it and what is
allowed, so the command line exits with status 2 before allocating anything. The estimates are
deliberately rough (within a small factor): their job is to turn a 7 TiB allocation or a run of
several years into a clear message, not to plan memory to the byte.

Sources of the limits:

- numpy integers are int64: an array length, a trial count or a count total above
  ``2**63 - 1`` cannot be represented (numpy raises ``OverflowError`` or wraps silently).
- ``numpy.random.Generator.poisson`` refuses ``lam > 2**63 - 1 - 10 sqrt(2**63 - 1)``
  (``POISSON_LAM_MAX`` in numpy's ``_generator.pyx``), the largest mean whose draws still fit
  in an int64 with ten standard deviations to spare.
- float64 overflows above ``numpy.finfo(float).max`` (about 1.8e308); a Gaussian sample's sum of
  squares, n (|mu| + 10 sigma)^2, and the fourth powers behind the reported standard errors
  must stay below it with room for growth across generations.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError

#: Largest value of numpy's default integer (int64).
INT64_MAX = int(np.iinfo(np.int64).max)
#: numpy's largest Poisson mean (numpy/random/_generator.pyx, POISSON_LAM_MAX).
POISSON_LAM_MAX = INT64_MAX - 10.0 * math.sqrt(INT64_MAX)
#: Largest finite float64.
FLOAT_MAX = float(np.finfo(np.float64).max)
#: Room left below FLOAT_MAX for a sample's sum of squares: the scale of a recursively fitted
#: model wanders across generations, and observables square it again (variances, KL terms).
FLOAT_HEADROOM = 1e12
#: Work refused outright, in trial-generations times the numbers each step draws. The engine
#: advances and summarises 1.5 to 5 million trial-generations a second on one core (measured
#: with Bernoulli and Gaussian runs, 1e5 trials, on a loaded and a quiet 2-core machine), so
#: this is days of CPU.
MAX_WORK = 1e12
#: Bytes of bookkeeping per generation of a run, allocated before the first generation (the
#: schedule, the recorded-row index and the recorded generations: three int64 arrays of length
#: generations + 1).
BYTES_PER_GENERATION = 24
#: Temporary float64 arrays the naive path holds per sample (draws, centred draws, squares).
NAIVE_ARRAYS_PER_SAMPLE = 3


def available_memory() -> int:
    """Bytes this process may still allocate: MemAvailable, capped by a cgroup limit if set."""
    avail: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            avail = 1 << 34  # unknown platform: assume 16 GiB rather than refusing everything
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path, encoding="ascii") as handle:
                text = handle.read().strip()
            if text.isdigit():
                avail = min(avail, int(text))
        except OSError:
            continue
    return int(avail)


def human_bytes(nbytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if abs(nbytes) < 1024 or unit == "PiB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    raise AssertionError("unreachable")


def check_int64(field: str, value: Any, *, low: int = 0) -> int:
    """An integer from ``low`` to 2**63 - 1 (bools and floats refused), returned as int."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(field, value, f"an integer from {low} to {INT64_MAX}")
    if not low <= int(value) <= INT64_MAX:
        raise ConfigError(field, value, f"an integer from {low} to {INT64_MAX} (numpy's int64)")
    return int(value)


def check_memory(field: str, value: Any, nbytes: float, what: str) -> None:
    """Refuse a setting whose estimated allocation exceeds the memory available now."""
    avail = available_memory()
    if not math.isfinite(nbytes) or nbytes > avail:
        raise ConfigError(
            field,
            value,
            f"{what} needs about {human_bytes(nbytes)}, more than the "
            f"{human_bytes(avail)} of memory available",
        )


def check_run_size(*, n: int, generations: int, trials: int, record_every: int = 1) -> None:
    """Sizes of a run that numpy cannot hold or this machine cannot store, before any work.

    Checks that n, generations and trials fit int64, that the bookkeeping allocated before the
    first generation (``BYTES_PER_GENERATION`` per generation) fits in memory, and that the
    work, at least trials * generations, stays under ``MAX_WORK``.

    Not refused here: the summary, which grows as the run records (running moments and rows,
    several hundred bytes per recorded generation); a run of 1e8 recorded generations needs tens
    of GB by its end. ``record_every`` bounds it; a run that still runs out of memory ends with
    one line and exit status 1, writing nothing.
    """
    check_int64("n", n, low=1)
    check_int64("generations", generations, low=0)
    check_int64("trials", trials, low=1)
    check_int64("record_every", record_every, low=1)
    nbytes = BYTES_PER_GENERATION * (generations + 1.0)
    check_memory("generations", generations, nbytes, f"a run of {generations:,} generations")
    check_work(trials=trials, generations=generations, per_step=1)


def check_work(*, trials: int, generations: int, per_step: float, field: str = "trials") -> None:
    """Refuse a run of more than ``MAX_WORK`` elementary draws (trials * generations * per_step).

    ``per_step`` is the numbers one trial draws per generation: 1 for a scalar sufficient
    statistic, the number of categories for a multinomial, n on the naive path.
    """
    work = float(trials) * float(generations) * float(max(per_step, 1))
    if work > MAX_WORK:
        value = trials if field == "trials" else generations
        raise ConfigError(
            field,
            value,
            f"{trials:,} trials x {generations:,} generations x {per_step:,.0f} draws each is "
            f"{work:.2g} draws, above the {MAX_WORK:.0e} (days of CPU) accepted: "
            "use fewer trials or generations",
        )


def check_naive_memory(field: str, n: int, *, per_sample: int = 1) -> None:
    """The naive path holds n samples of one trial at once: refuse n that cannot fit."""
    nbytes = 8.0 * NAIVE_ARRAYS_PER_SAMPLE * per_sample * n
    check_memory(field, n, nbytes, f"the naive method with n = {n:,} samples per trial")


def check_poisson_rate(n: int, lam: float, method: str) -> None:
    """numpy's Poisson sampler refuses means above ``POISSON_LAM_MAX``.

    The exact step draws Poisson(n * Lambda); the naive one Poisson(Lambda) per sample. The mean
    Lambda_k is a martingale whose standard deviation after k steps is about sqrt(k Lambda / n),
    negligible at this scale, so a factor 2 below the limit is enough headroom.
    """
    rate = float(lam) * (n if method == "exact" else 1)
    if rate > POISSON_LAM_MAX / 2:
        raise ConfigError(
            "lambda",
            lam,
            f"n * lambda = {rate:.3g} exceeds what numpy's Poisson sampler draws "
            f"({POISSON_LAM_MAX / 2:.3g}, half of numpy's limit for headroom)",
        )


def check_float_scale(n: int, mu: float, sigma: float, family: str) -> None:
    """Refuse location/scale parameters whose samples, or the moments we report, overflow.

    Ten standard deviations cover every draw of a realistic run, so a sample is at most
    s = |mu| + 10 sigma in size. A sample's sum of squares is about n s^2; the standard error of
    a reported variance uses fourth moments, sums over trials of s^4 for the mean and of
    (sigma^2)^4 = sigma^8 for the variance itself. Each must stay ``FLOAT_HEADROOM`` (1e12:
    trials, and the scale's wandering across generations) below the float64 maximum: in practice
    |mu| + 10 sigma <= about 3.7e73 and sigma <= about 6.1e36.
    """
    budget = FLOAT_MAX / FLOAT_HEADROOM
    scale = abs(float(mu)) + 10.0 * float(sigma)
    scale_limit = min(math.sqrt(budget / max(int(n), 1)), budget**0.25)
    sigma_limit = budget**0.125
    if scale > scale_limit or float(sigma) > sigma_limit:
        raise ConfigError(
            "mu, sigma" if mu else "sigma",
            f"mu={mu!r}, sigma={sigma!r}",
            f"|mu| + 10 sigma <= {scale_limit:.3g} and sigma <= {sigma_limit:.3g}, so that "
            f"{family} samples and the fourth moments behind the standard errors stay finite "
            "in float64",
        )


def check_count_total(field: str, counts: Any) -> None:
    """Integer counts whose total fits int64 (numpy would wrap it to a negative number)."""
    arr = np.asarray(counts) if isinstance(counts, np.ndarray) else None
    if arr is not None and arr.dtype.kind in "iu" and arr.size:
        # Exact without Python integers when even the largest count times their number fits.
        if int(arr.max()) <= INT64_MAX // arr.size:
            total = int(arr.sum(dtype=np.int64))
        else:
            total = sum(int(c) for c in arr.tolist())
    else:
        total = sum(int(c) for c in counts)
    if total > INT64_MAX:
        raise ConfigError(
            field, f"total {total}", f"counts whose total is at most {INT64_MAX} (numpy's int64)"
        )
