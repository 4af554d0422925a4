"""Where the real data of a plug-in run comes from (generation 0).

Three kinds of source, all with ``draw(n, rng) -> data``:

- :class:`FamilySource`: a built-in family's starting distribution (``"gaussian"`` with
  ``sigma=2``, ...). Generation 0 *is* that distribution, and generation 1 is fitted to ``n``
  fresh draws from it, exactly as for the built-in families.
- :class:`SamplerSource`: a Python callable ``sampler(n, rng) -> data`` that returns ``n``
  fresh real points each call; it is treated like a distribution.
- :class:`DataSource`: a fixed data set (an array or a list of sequences, or a ``.npy``,
  ``.csv``, ``.parquet`` or text file). Generation 0 is the data set itself, that is, its
  empirical distribution sampled *without replacement*: generation 1 is fitted to ``n`` points
  drawn uniformly without replacement from it (all of it, shuffled, when ``n`` equals its size),
  and so is every draw of real data a workflow or a metric makes (fresh real data for ``mix``,
  the held-out reference sample). ``n`` may therefore not exceed the data set's size.

Data is a numpy array: numbers as (n, d) float arrays (a 1-D array of n numbers is read as
(n, 1)), text as a 1-D object array of n sequences (tuples of tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError

#: File types a DataSource reads.
FILE_TYPES = (".npy", ".csv", ".parquet", ".txt")


def as_data(x: Any, *, what: str = "data") -> np.ndarray:
    """Normalise data to the plug-in convention: numbers (n, d) float, text (n,) of tuples.

    Raises ``ValueError`` (with ``what`` in the message) for anything else.
    """
    if isinstance(x, np.ndarray) and x.dtype != object:
        arr = x
    elif isinstance(x, (list, tuple)) and x and not _is_number(x[0]) and not _is_vector(x[0]):
        return as_sequences(x, what)
    elif isinstance(x, np.ndarray):  # an object array: sequences (text) already
        if x.ndim != 1:
            raise ValueError(f"{what}: an object array must be 1-D (one sequence per item)")
        return x
    else:
        try:
            arr = np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            # Sequences of different lengths (token ids of sentences) are text-like data.
            if isinstance(x, (list, tuple)) and x and all(_is_vector(v) for v in x):
                return as_sequences(x, what)
            raise ValueError(f"{what}: {type(x).__name__} is not an array of numbers") from None
    if arr.dtype.kind not in "fiub":
        raise ValueError(f"{what}: dtype {arr.dtype} is not numeric")
    arr = np.asarray(arr, dtype=float)
    if arr.ndim == 0:
        raise ValueError(f"{what}: a scalar, not an array of points")
    if arr.ndim == 1:
        arr = arr[:, None]
    return arr


def as_sequences(x: Sequence[Any], what: str = "data") -> np.ndarray:
    """Items as a 1-D object array of tuples (a string is split on white space)."""
    seqs = np.empty(len(x), dtype=object)
    for i, s in enumerate(x):
        if isinstance(s, str):
            s = s.split()
        try:
            seqs[i] = tuple(s.tolist() if isinstance(s, np.ndarray) else s)
        except TypeError:
            raise ValueError(f"{what}: item {i} is {type(s).__name__}, not a sequence") from None
    return seqs


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def _is_vector(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return v.dtype != object
    return isinstance(v, (list, tuple)) and bool(v) and all(_is_number(u) for u in v)


class Source:
    """The real data of generation 0."""

    #: "distribution" (fresh draws each time) or "data" (a fixed data set).
    kind: str = "distribution"

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError

    def check_n(self, n: int, field_name: str = "n") -> None:
        """Refuse a sample size the source cannot give (ConfigError)."""

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def example(self) -> np.ndarray:
        """A few points, to learn the data's shape (drawn from a fixed private stream)."""
        return self.draw(2, np.random.default_rng(0))


@dataclass(frozen=True, eq=False)
class FamilySource(Source):
    """Draws from the generation-0 distribution of a built-in family (e.g. ``"gaussian"``)."""

    family: Any
    kind: str = "distribution"

    def __post_init__(self) -> None:
        from modelcollapse.families import Family

        if not isinstance(self.family, Family):
            raise ConfigError("source", self.family, "a built-in family")
        if type(self.family).__name__ not in _SAMPLERS:
            raise ConfigError(
                "source",
                self.family.name,
                f"a family that can be sampled: {', '.join(sorted(_SOURCE_NAMES))}",
            )

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return as_data(_SAMPLERS[type(self.family).__name__](self.family, n, rng))

    def describe(self) -> dict[str, Any]:
        # The family's estimator and thresholds concern its own refits, not its samples.
        params = {k: v for k, v in self.family.describe().items() if k not in ("estimator", "eps")}
        return {"source": "family", **params}


def _gaussian(f: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    return f.mu + f.sigma * rng.standard_normal(n)


def _bernoulli(f: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    return (rng.random(n) < f.p).astype(float)


def _poisson(f: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.poisson(f.lam, n).astype(float)


def _categorical(f: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    w = np.asarray(f.start, dtype=float)
    cdf = np.cumsum(w / w.sum())
    # Clip to the last positive symbol so rounding in the cumulative sum never draws a p = 0 one.
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), np.flatnonzero(w)[-1])


def _mvgaussian(f: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    chol = np.linalg.cholesky(f.cov)
    return f.mean + rng.standard_normal((n, f.d)) @ chol.T


def _gmm(f: Any, n: int, rng: np.random.Generator) -> np.ndarray:
    from modelcollapse.families.em import sample_gmm

    s = f.initial_state(1)
    return sample_gmm(s.weights, s.means, s.covs, n, rng)[0]


_SAMPLERS: dict[str, Callable[[Any, int, np.random.Generator], np.ndarray]] = {
    "Gaussian": _gaussian,
    "Bernoulli": _bernoulli,
    "Poisson": _poisson,
    "Categorical": _categorical,
    "MVGaussian": _mvgaussian,
    "GMM": _gmm,
}
_SOURCE_NAMES = ("gaussian", "bernoulli", "poisson", "categorical", "mvgaussian", "gmm")


@dataclass(frozen=True, eq=False)
class SamplerSource(Source):
    """A callable ``sampler(n, rng) -> data`` giving ``n`` fresh real points per call."""

    sampler: Callable[[int, np.random.Generator], Any]
    kind: str = "distribution"

    def __post_init__(self) -> None:
        if not callable(self.sampler):
            raise ConfigError("source", self.sampler, "a callable sampler(n, rng) -> data")

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        data = as_data(self.sampler(n, rng), what="the source sampler's data")
        if len(data) != n:
            raise ValueError(f"the source sampler returned {len(data)} points, not n = {n}")
        return data

    def describe(self) -> dict[str, Any]:
        fn = self.sampler
        name = f"{fn.__module__}:{getattr(fn, '__qualname__', fn)}"
        return {"source": "callable", "sampler": name}


@dataclass(frozen=True, eq=False)
class DataSource(Source):
    """A fixed data set, sampled without replacement (see the module docstring)."""

    data: Any
    path: str | None = None
    kind: str = "data"
    _data: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            arr = as_data(self.data)
        except ValueError as exc:
            raise ConfigError("source", self.path or "data", str(exc)) from None
        if len(arr) < 1:
            raise ConfigError("source", self.path or "data", "at least one data point")
        if arr.dtype != object and not np.all(np.isfinite(arr)):
            raise ConfigError("source", self.path or "data", "finite numbers (no NaN or inf)")
        object.__setattr__(self, "_data", arr)

    @property
    def size(self) -> int:
        return len(self._data)

    def check_n(self, n: int, field_name: str = "n") -> None:
        if n > self.size:
            raise ConfigError(
                field_name,
                n,
                f"at most the {self.size} points of the data set (drawn without replacement)",
            )

    def draw(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if n > self.size:
            raise ValueError(f"{n} points asked of a data set of {self.size}")
        # The n smallest of i.i.d. uniform keys: a uniform subset in random order.
        idx = np.argpartition(rng.random(self.size), n - 1)[:n] if n < self.size else None
        if idx is None:
            idx = rng.permutation(self.size)
        return self._data[idx]

    def describe(self) -> dict[str, Any]:
        return {"source": "data", "path": self.path, "size": self.size}


def read_data(path: str | Path) -> Any:
    """A data file as an array (``.npy``, ``.csv``, ``.parquet``) or a list of token tuples
    (a text file: one sequence per non-empty line, tokens split on white space)."""
    p = Path(path)
    if p.suffix not in FILE_TYPES:
        raise ConfigError("source", str(path), f"a file of type {', '.join(FILE_TYPES)}")
    if not p.is_file():
        raise ConfigError("source", str(path), "an existing file")
    try:
        if p.suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if p.suffix == ".csv":
            import pandas as pd

            return pd.read_csv(p).to_numpy(dtype=float)
        if p.suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(p).to_numpy(dtype=float)
        with open(p, encoding="utf-8") as fh:
            return [tuple(line.split()) for line in fh if line.strip()]
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError("source", str(path), f"a readable {p.suffix} file ({exc})") from None


def make_source(spec: Any, params: dict[str, Any] | None = None) -> Source:
    """A source from a family name (with ``params``), a file path, a callable, an array, a list
    of sequences, a family object or a Source."""
    from modelcollapse.families import Family, make_family

    if isinstance(spec, Source):
        return spec
    if isinstance(spec, Family):
        return FamilySource(spec)
    if isinstance(spec, (str, Path)):
        text = str(spec)
        if Path(text).suffix in FILE_TYPES:
            if params:
                raise ConfigError("source_params", params, "parameters apply to a family source")
            return DataSource(read_data(text), path=text)
        if ":" in text:
            from modelcollapse.models.plugin import import_object

            return SamplerSource(import_object(text, "source"))
        return FamilySource(make_family(text, params or {}))
    if params:
        raise ConfigError("source_params", params, "parameters apply to a family source")
    if callable(spec):
        return SamplerSource(spec)
    if isinstance(spec, (np.ndarray, list, tuple)):
        return DataSource(spec)
    raise ConfigError(
        "source",
        type(spec).__name__,
        "a family name, a data file (.npy .csv .parquet .txt), package.module:sampler, "
        "a callable sampler(n, rng), an array or a list of sequences",
    )


def event_shape(data: np.ndarray) -> tuple[int, ...] | None:
    """The shape of one point (None for text: sequences of any length)."""
    return None if data.dtype == object else tuple(data.shape[1:])


def describe_shape(shape: Sequence[int] | None) -> str:
    return "sequences" if shape is None else f"(n, {', '.join(map(str, shape))})"
