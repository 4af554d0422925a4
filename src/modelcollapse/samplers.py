"""The sampler stage: how synthetic data is drawn from a fitted model.

Recursive training draws each generation's data from the previous model, and real pipelines do
not draw from it as it is: language models sample at a temperature, with top-k or nucleus
(top-p) truncation (Holtzman et al. 2020, "The curious case of neural text degeneration"); image
models use a truncation factor psi (Brock et al. 2019, BigGAN; Karras et al. 2019, StyleGAN);
and generated data is filtered by a score, a reward model or a verifier (Alemohammad et al. 2024,
"Self-consuming generative models go MAD"; Ferbach et al. 2024, "Self-consuming generative
models with curated data"; Feng et al. 2024, "Beyond model collapse"). A :class:`Sampler` is an
ordered tuple of such stages, checked when it is built, before any work starts.

Two kinds of stage:

* *law stages* change the distribution the samples are drawn from and nothing else, so a
  family's exact step stays exact: a categorical's next counts are still a multinomial, over the
  transformed probabilities (``Temperature``: q_i proportional to p_i^(1/T); ``TopK``: the k most
  probable symbols, renormalised; ``TopP``: the smallest set of most probable symbols whose mass
  reaches p, renormalised), and a Gaussian sampled with its standard deviation scaled by psi
  (``Truncation``; ``gaussian`` and ``mvgaussian``) has the same sufficient-statistic law with
  sigma replaced by psi sigma (Sigma by psi^2 Sigma).
* a *filter* (``Curation``, or the regression family's ``Verifier``) keeps the samples a score
  ranks highest. Its law has no finite sufficient statistic in general, so it runs on the sample
  path: :func:`curate` draws candidates from any model and keeps n of them. That one function is
  also the hook for plug-in models: ``PerTrialModel`` applies it to whatever ``generate`` returns.

Real data never passes through the sampler (``Family.real_data_family``): generation 1 trains
on the generation-0 model's draws as they are, and so do the mix workflows' fresh real draws;
the stages act on the draws of the models fitted since. Text models, whose generation 0 is
itself fitted to the corpus (``Family.start_is_fitted``), sample through the stages from
generation 1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError

#: Rounds of rejection sampling a threshold filter may take before giving up.
MAX_ROUNDS = 10_000

__all__ = [
    "Curation",
    "Sampler",
    "Stage",
    "Temperature",
    "TopK",
    "TopP",
    "Truncation",
    "Verifier",
    "curate",
    "curation_from_mapping",
    "function_name",
    "resolve_sampler",
]


def _finite(field: str, value: Any, allowed: str) -> float:
    if isinstance(value, bool):
        raise ConfigError(field, value, allowed)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(field, value, allowed) from None
    if not math.isfinite(x):
        raise ConfigError(field, value, allowed)
    return x


class Stage:
    """Base class of sampler stages (frozen dataclasses checked at construction)."""

    def is_identity(self) -> bool:
        """Whether the stage changes nothing (then it is dropped, so results stay bit for bit)."""
        return False

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class Temperature(Stage):
    """Sample from q_i = p_i^(1/T) / sum_j p_j^(1/T); T < 1 sharpens, T > 1 flattens."""

    t: float

    def __post_init__(self) -> None:
        t = _finite("temperature", self.t, "a finite number > 0")
        if t <= 0:
            raise ConfigError("temperature", self.t, "a finite number > 0")
        object.__setattr__(self, "t", t)

    def is_identity(self) -> bool:
        return self.t == 1.0

    def probabilities(self, p: np.ndarray) -> np.ndarray:
        # In log space: p^(1/T) of a rare symbol at small T underflows before renormalising.
        with np.errstate(divide="ignore"):
            logq = np.log(p) / self.t
        logq -= logq.max(axis=-1, keepdims=True)
        q = np.exp(logq)
        return q / q.sum(axis=-1, keepdims=True)

    def describe(self) -> dict[str, Any]:
        return {"temperature": self.t}


@dataclass(frozen=True)
class TopK(Stage):
    """Keep the k most probable symbols (ties broken towards the lower index), renormalise."""

    k: int

    def __post_init__(self) -> None:
        k = self.k
        if isinstance(k, float) and k.is_integer():
            k = int(k)
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ConfigError("top_k", self.k, "an integer >= 1")
        object.__setattr__(self, "k", int(k))

    def probabilities(self, p: np.ndarray) -> np.ndarray:
        m = p.shape[-1]
        if self.k >= m:
            return p
        # Stable sort on -p: equal probabilities keep index order, so ties are deterministic.
        order = np.argsort(-p, axis=-1, kind="stable")
        keep = np.zeros(p.shape, dtype=bool)
        np.put_along_axis(keep, order[..., : self.k], True, axis=-1)
        q = np.where(keep, p, 0.0)
        return q / q.sum(axis=-1, keepdims=True)

    def describe(self) -> dict[str, Any]:
        return {"top_k": self.k}


@dataclass(frozen=True)
class TopP(Stage):
    """Nucleus sampling: keep the most probable symbols until their mass reaches p (the symbol
    that crosses p included), renormalise. p = 1 keeps every symbol."""

    p: float

    def __post_init__(self) -> None:
        p = _finite("top_p", self.p, "a number in (0, 1]")
        if not 0.0 < p <= 1.0:
            raise ConfigError("top_p", self.p, "a number in (0, 1]")
        object.__setattr__(self, "p", p)

    def is_identity(self) -> bool:
        return self.p == 1.0

    def probabilities(self, p: np.ndarray) -> np.ndarray:
        order = np.argsort(-p, axis=-1, kind="stable")
        sorted_p = np.take_along_axis(p, order, axis=-1)
        before = np.cumsum(sorted_p, axis=-1) - sorted_p  # mass strictly above each symbol
        keep_sorted = (before < self.p * p.sum(axis=-1, keepdims=True)) & (sorted_p > 0)
        keep = np.zeros(p.shape, dtype=bool)
        np.put_along_axis(keep, order, keep_sorted, axis=-1)
        q = np.where(keep, p, 0.0)
        return q / q.sum(axis=-1, keepdims=True)

    def describe(self) -> dict[str, Any]:
        return {"top_p": self.p}


@dataclass(frozen=True)
class Truncation(Stage):
    """Sample a location-scale model with its scale multiplied by psi (psi < 1 truncates)."""

    psi: float

    def __post_init__(self) -> None:
        psi = _finite("truncation", self.psi, "a finite number > 0 (psi; < 1 truncates)")
        if psi <= 0:
            raise ConfigError("truncation", self.psi, "a finite number > 0 (psi; < 1 truncates)")
        object.__setattr__(self, "psi", psi)

    def is_identity(self) -> bool:
        return self.psi == 1.0

    def describe(self) -> dict[str, Any]:
        return {"truncation": self.psi}


@dataclass(frozen=True, eq=False)
class Curation(Stage):
    """Keep the generated samples that ``score`` ranks highest.

    ``score`` maps samples of shape (..., m, *event) to scores of shape (..., m) (for a scalar
    family, an elementwise function such as ``lambda x: -abs(x)`` will do). Give exactly one of:

    * ``fraction`` f in (0, 1]: draw ceil(n / f) candidates and keep the n best (ties keep the
      earlier candidate);
    * ``threshold`` s: keep candidates with score >= s, drawing more until n have passed (the
      training data is then n samples of the model conditioned on passing).
    """

    score: Callable[[np.ndarray], np.ndarray]
    fraction: float | None = None
    threshold: float | None = None
    #: What run.json records; by default "module:function" when the score can be found again
    #: under that name (a module-level function), else "curation" (a lambda, a closure).
    name: str | None = None

    def __post_init__(self) -> None:
        if not callable(self.score):
            raise ConfigError("curation score", self.score, "a function of the samples")
        if self.name is None:
            object.__setattr__(self, "name", function_name(self.score) or "curation")
        if (self.fraction is None) == (self.threshold is None):
            raise ConfigError(
                "curation",
                "fraction and threshold" if self.fraction is not None else "neither",
                "give exactly one of fraction (in (0, 1]) or threshold",
            )
        if self.fraction is not None:
            f = _finite("curation fraction", self.fraction, "a number in (0, 1]")
            if not 0.0 < f <= 1.0:
                raise ConfigError("curation fraction", self.fraction, "a number in (0, 1]")
            object.__setattr__(self, "fraction", f)
        else:
            s = _finite("curation threshold", self.threshold, "a finite number")
            object.__setattr__(self, "threshold", s)

    def candidates(self, n: int) -> int:
        """Candidates drawn per trial for n kept (one round, for a threshold)."""
        return n if self.fraction is None else math.ceil(n / self.fraction)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"curation": self.name}
        if self.fraction is not None:
            out["curation_fraction"] = self.fraction
        else:
            out["curation_threshold"] = self.threshold
        return out


def function_name(func: Any) -> str | None:
    """``"module:qualname"`` of a function that can be imported again under that name, else
    None (lambdas, closures, bound methods and callable instances have no such name)."""
    import sys

    module = getattr(func, "__module__", None)
    qualname = getattr(func, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str) or "<" in qualname:
        return None
    obj: Any = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return f"{module}:{qualname}" if obj is func else None


@dataclass(frozen=True)
class Verifier(Stage):
    """Regression only: keep the generated rows whose label is within ``tol`` of the truth,
    |y - x . w0| <= tol (a verifier that knows the true model; Feng et al. 2024)."""

    tol: float

    def __post_init__(self) -> None:
        tol = _finite("verifier tol", self.tol, "a finite number > 0")
        if tol <= 0:
            raise ConfigError("verifier tol", self.tol, "a finite number > 0")
        object.__setattr__(self, "tol", tol)

    def describe(self) -> dict[str, Any]:
        return {"verifier_tol": self.tol}


FILTERS = (Curation, Verifier)
#: Names accepted in a sampler given as a mapping (configs, the command line).
KEYS = (
    "temperature",
    "top_k",
    "top_p",
    "truncation",
    "verifier_tol",
    "curate",
    "curate_fraction",
    "curate_threshold",
)


@dataclass(frozen=True)
class Sampler:
    """An ordered tuple of stages: law stages first (applied in the order given), then at most
    one filter. Identity stages (T = 1, top-p = 1, psi = 1) are dropped."""

    stages: tuple[Stage, ...] = ()

    def __post_init__(self) -> None:
        stages = tuple(self.stages)
        for s in stages:
            if not isinstance(s, Stage):
                raise ConfigError(
                    "sampler", s, "stages from modelcollapse.samplers (Temperature, TopK, ...)"
                )
        filters = [s for s in stages if isinstance(s, FILTERS)]
        if len(filters) > 1:
            raise ConfigError(
                "sampler",
                " and ".join(next(iter(f.describe())) for f in filters),
                "at most one filter (a Curation or a Verifier, not both nor two of one)",
            )
        if filters and not isinstance(stages[-1], FILTERS):
            raise ConfigError("sampler", type(stages[-1]).__name__, "the filter as the last stage")
        object.__setattr__(self, "stages", tuple(s for s in stages if not s.is_identity()))

    @property
    def laws(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if not isinstance(s, FILTERS))

    @property
    def filter(self) -> Stage | None:
        return next((s for s in self.stages if isinstance(s, FILTERS)), None)

    def is_identity(self) -> bool:
        return not self.stages

    def probabilities(self, p: np.ndarray) -> np.ndarray:
        """The categorical law stages applied in order to probability rows ``p`` (..., m)."""
        for s in self.laws:
            p = s.probabilities(p)  # type: ignore[attr-defined]
        return p

    def segment_probabilities(self, p: np.ndarray, starts: np.ndarray) -> np.ndarray:
        """The categorical law stages applied to many laws stored end to end (ragged rows).

        ``p`` is a flat array of probabilities, each segment ``p[starts[i]:starts[i+1]]`` (the
        last one to the end) one law summing to 1, every segment non-empty: for example the
        conditional laws of an n-gram model, one per context. Same results as
        :meth:`probabilities` row by row.
        """
        seg = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, p.size]))
        for s in self.laws:
            p = _segment_stage(s, p, seg, starts)
        return p

    @property
    def scale(self) -> float:
        """The product of the truncation factors (1 without any)."""
        out = 1.0
        for s in self.laws:
            if isinstance(s, Truncation):
                out *= s.psi
        return out

    def describe(self) -> list[dict[str, Any]]:
        return [s.describe() for s in self.stages]


def _segment_stage(
    stage: Stage, p: np.ndarray, seg: np.ndarray, starts: np.ndarray
) -> np.ndarray:
    if isinstance(stage, Temperature):
        with np.errstate(divide="ignore"):
            logq = np.log(p) / stage.t
        logq = logq - np.maximum.reduceat(logq, starts)[seg]
        q = np.exp(logq)
    else:
        # Within each segment, order by decreasing probability (stable: lower index first).
        order = np.lexsort((-p, seg))
        sp = p[order]
        rank = np.arange(p.size) - starts[seg]
        if isinstance(stage, TopK):
            keep_sorted = rank < stage.k
        elif isinstance(stage, TopP):
            csum = np.cumsum(sp)
            seg_base = np.r_[0.0, csum][starts][seg]
            before = csum - sp - seg_base
            total = np.add.reduceat(sp, starts)[seg]
            keep_sorted = (before < stage.p * total) & (sp > 0)
        else:
            raise TypeError(f"{type(stage).__name__} is not a categorical stage")
        keep = np.empty(p.size, dtype=bool)
        keep[order] = keep_sorted
        q = np.where(keep, p, 0.0)
    return q / np.add.reduceat(q, starts)[seg]


def resolve_sampler(spec: Any) -> Sampler | None:
    """A :class:`Sampler` from ``None``, a stage, a sequence of stages, a Sampler, or a mapping
    of ``temperature``, ``top_k``, ``top_p``, ``truncation`` (applied in that order) and at most
    one filter: ``verifier_tol``, or ``curate`` with ``curate_fraction`` or
    ``curate_threshold`` (:func:`curation_from_mapping`); ``None`` when nothing would change.
    Every bad value is a ConfigError."""
    if spec is None:
        return None
    if isinstance(spec, Sampler):
        out = spec
    elif isinstance(spec, Stage):
        out = Sampler((spec,))
    elif isinstance(spec, Mapping):
        for key in spec:
            if key not in KEYS:
                raise ConfigError("sampler", key, f"keys are: {', '.join(KEYS)}")
        makers = {
            "temperature": Temperature,
            "top_k": TopK,
            "top_p": TopP,
            "truncation": Truncation,
            "verifier_tol": Verifier,
        }
        if spec.get("curate") is not None and spec.get("verifier_tol") is not None:
            raise ConfigError(
                "curate", spec["curate"], "at most one filter: give curate or verifier_tol, not both"
            )
        stages = [makers[k](spec[k]) for k in makers if spec.get(k) is not None]
        curation = curation_from_mapping(spec)
        if curation is not None:
            stages.append(curation)  # a filter: the last stage
        out = Sampler(tuple(stages))
    elif isinstance(spec, Sequence) and not isinstance(spec, str):
        out = Sampler(tuple(spec))
    else:
        raise ConfigError("sampler", spec, "a stage, a list of stages or a Sampler")
    return None if out.is_identity() else out


#: What ``curate`` takes in a mapping.
_CURATE_ALLOWED = "package.module:function, a score of the samples; see docs/sampling.md"


def curation_from_mapping(spec: Mapping[str, Any]) -> Curation | None:
    """The :class:`Curation` of a sampler mapping's ``curate``, ``curate_fraction`` and
    ``curate_threshold`` keys, or None when there is no ``curate``.

    ``curate`` names a score function as ``package.module:function`` (imported with
    ``models.plugin.import_object``; a Python caller may pass the function itself). Being found
    by name, it pickles by reference, so the stage reaches worker processes.
    """
    score = spec.get("curate")
    fraction = spec.get("curate_fraction")
    threshold = spec.get("curate_threshold")
    if score is None:
        for key, value in (("curate_fraction", fraction), ("curate_threshold", threshold)):
            if value is not None:
                raise ConfigError(key, value, "only with curate = " + _CURATE_ALLOWED)
        return None
    if isinstance(score, str):
        # Imported here: the plug-in module sits above the samplers (it loads families).
        from modelcollapse.models.plugin import import_object

        module, sep, attr = score.partition(":")
        if not (module and sep and attr):
            raise ConfigError("curate", score, _CURATE_ALLOWED)
        func = import_object(score, field_name="curate")
        if not callable(func):
            raise ConfigError(
                "curate", score, f"a callable score function, not an object of type "
                f"{type(func).__name__}"
            )
    elif callable(score):
        func = score
    else:
        raise ConfigError("curate", score, _CURATE_ALLOWED)
    if fraction is not None and threshold is not None:
        raise ConfigError(
            "curate_threshold",
            threshold,
            f"give curate_fraction ({fraction!r} given) or curate_threshold, not both",
        )
    if fraction is None and threshold is None:
        raise ConfigError(
            "curate",
            score,
            "needs curate_fraction (in (0, 1]: keep the best n of ceil(n / f) candidates) or "
            "curate_threshold (keep candidates scoring >= s)",
        )
    name = score if isinstance(score, str) else None
    if fraction is not None:
        f = _finite("curate_fraction", fraction, "a number in (0, 1]")
        if not 0.0 < f <= 1.0:
            raise ConfigError("curate_fraction", fraction, "a number in (0, 1]")
        return Curation(func, fraction=f, name=name)
    s = _finite("curate_threshold", threshold, "a finite number")
    return Curation(func, threshold=s, name=name)


def curate(
    draw: Callable[[int], np.ndarray],
    n: int,
    curation: Curation,
    *,
    batched: bool = True,
) -> np.ndarray:
    """n curated samples per trial from any model.

    ``draw(m)`` returns m fresh samples per trial, shape (trials, m, *event) when ``batched``
    (a vectorised family's block), else (m, *event) (one per-trial model's data array). With a
    fraction f the n best of ceil(n / f) candidates are kept, in their drawn order; with a
    threshold, rounds of n candidates are drawn until n have passed in every trial (each
    trial's kept samples are then i.i.d. from the model conditioned on passing). Raises
    RuntimeError when a threshold passes nothing after ``MAX_ROUNDS`` rounds.
    """
    if not batched:
        return curate(lambda m: draw(m)[None], n, curation, batched=True)[0]
    if curation.fraction is not None:
        cand = draw(curation.candidates(n))
        scores = np.asarray(curation.score(cand), dtype=float)
        if scores.shape != cand.shape[:2]:
            raise ValueError(f"score returned shape {scores.shape}, expected {cand.shape[:2]}")
        if cand.shape[1] == n:
            return cand
        # The n best by score (stable: ties keep the earlier candidate), then in drawn order,
        # so a filter that keeps everything returns the candidates unchanged.
        best = np.sort(np.argsort(-scores, axis=1, kind="stable")[:, :n], axis=1)
        return _take(cand, best)
    out = None
    got = None
    for _ in range(MAX_ROUNDS):
        cand = draw(n)
        scores = np.asarray(curation.score(cand), dtype=float)
        if scores.shape != cand.shape[:2]:
            raise ValueError(f"score returned shape {scores.shape}, expected {cand.shape[:2]}")
        if out is None:
            out = np.empty_like(cand)
            got = np.zeros(cand.shape[0], dtype=np.int64)
        ok = scores >= curation.threshold
        # Slot of each passing candidate in its trial's output; those beyond n are dropped.
        slot = np.cumsum(ok, axis=1) - 1 + got[:, None]
        use = ok & (slot < n)
        rows, cols = np.nonzero(use)
        out[rows, slot[rows, cols]] = cand[rows, cols]
        got = np.minimum(got + ok.sum(axis=1), n)
        if np.all(got == n):
            return out
    raise RuntimeError(
        f"curation threshold {curation.threshold!r}: fewer than {n} samples passed in "
        f"{MAX_ROUNDS} rounds of {n} candidates (the model no longer produces passing data)"
    )


def _take(cand: np.ndarray, idx: np.ndarray) -> np.ndarray:
    extra = cand.ndim - 2
    return np.take_along_axis(cand, idx.reshape(idx.shape + (1,) * extra), axis=1)
