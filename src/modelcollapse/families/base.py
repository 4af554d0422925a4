"""What a model family is to the engine.

A family knows its starting parameter, how to advance all trials of a block by one generation
(``step_exact`` draws the sufficient statistic; ``step_naive`` draws the n samples and applies the
estimator to them) and which per-trial quantities it reports (``observe``). State arrays hold
trials on the leading axis (SPEC.md section 2; DESIGN.md conventions).
"""

from __future__ import annotations

import copy
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from modelcollapse.errors import ConfigError

State = Any  # a family's own state object: arrays with trials on the leading axis

#: Largest number of state elements one block keeps in memory (about 32 MiB of float64).
BLOCK_ELEMENTS = 1 << 22
#: Trials per block for families with a scalar state. Part of the seeding policy: changing it
#: changes the random streams (see ``modelcollapse.seeding``).
SCALAR_BLOCK_TRIALS = 4096


#: Renamed metrics, old base name -> new one. The old names are accepted, with a
#: DeprecationWarning, for one release: ``collapse_prob[eps=E]`` was Pr(scale > E), the chance
#: of *not yet* having collapsed, so the name read backwards.
METRIC_ALIASES = {"collapse_prob": "sigma_above"}


def _renamed(name: str, stacklevel: int) -> str:
    for old, new in METRIC_ALIASES.items():
        if name == old or name.startswith(old + "["):
            renamed = new + name[len(old) :]
            warnings.warn(
                f"metric {name!r} is now called {renamed!r}; the old name will be removed in "
                "the next release",
                DeprecationWarning,
                stacklevel=stacklevel,
            )
            return renamed
    return name


def resolve_metric(name: str, available: Sequence[str]) -> str:
    """One metric name with deprecated aliases replaced (see METRIC_ALIASES)."""
    return _renamed(name, stacklevel=4)


def resolve_metrics(requested: Sequence[str], available: Sequence[str]) -> list[str]:
    """Requested metric names as the family reports them: deprecated aliases replaced, and a
    bare parametrised name (``sigma_above``) expanded to every one the run reports
    (``sigma_above[eps=0.1]``, ``sigma_above[eps=0.5]``, ...). Unknown names are returned as
    they are, for the caller to reject."""
    out: list[str] = []
    for name in requested:
        name = _renamed(name, stacklevel=4)
        expanded = [m for m in available if m.startswith(name + "[")]
        out.extend(expanded if name not in available and expanded else [name])
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Observable:
    """A per-trial quantity averaged over trials.

    ``name`` is the metric name; with ``moments=True`` the summary reports ``{name}_mean`` and
    ``{name}_var`` (variance across trials) instead of ``name`` itself. ``family.observe`` must
    return exactly 0.0 or 1.0 for an ``indicator`` observable.
    """

    name: str
    moments: bool = False
    doc: str = ""
    #: Takes only the values 0 and 1 (an event's indicator): its mean and variance follow from
    #: the count of ones, so the summary needs one sum per generation instead of two.
    indicator: bool = False
    #: Reported when ``simulate`` is given no ``metrics`` (``metrics="all"`` reports every
    #: observable). Families leave out of the default set only what is costly to summarise
    #: and is not needed by the paper's experiments (see docs/benchmarks.md).
    default: bool = True

    def metric_names(self) -> tuple[str, ...]:
        if self.moments:
            return (f"{self.name}_mean", f"{self.name}_var")
        return (self.name,)


@dataclass(frozen=True)
class Event:
    """A collapse event: a set of states, entered at a hitting time T = min{k : state_k in it}.

    ``absorbing`` events are never left (0 is absorbing for a binomial chain), so a trial in one
    is finished; others (Sigma_k < eps) are first-passage times.
    """

    name: str
    doc: str = ""
    absorbing: bool = True


@dataclass(frozen=True)
class Family(ABC):
    """Base class of model families. Subclasses are frozen dataclasses of their parameters."""

    name: ClassVar[str]
    #: Estimators this family offers; the first is the default.
    estimators: ClassVar[tuple[str, ...]] = ("ml",)
    #: Whether ``step_exact`` exists (families without a finite sufficient statistic: False).
    has_exact: ClassVar[bool] = True

    estimator: str = "ml"

    def __post_init__(self) -> None:
        if self.estimator not in self.estimators:
            raise ConfigError(
                "estimator", self.estimator, f"{self.name} offers: {', '.join(self.estimators)}"
            )

    # -- the generation step -------------------------------------------------------------
    @abstractmethod
    def initial_state(self, trials: int) -> State:
        """The generation-0 state of ``trials`` trials (the real model theta_0)."""

    @abstractmethod
    def step_exact(self, state: State, n: int, rng: np.random.Generator) -> State:
        """One refit from the sufficient statistic's exact law."""

    @abstractmethod
    def step_naive(self, state: State, n: int, rng: np.random.Generator) -> State:
        """One refit by drawing ``n`` samples per trial and applying the estimator."""

    def step(self, state: State, n: int, rng: np.random.Generator, method: str) -> State:
        if method == "exact":
            return self.step_exact(state, n, rng)
        return self.step_naive(state, n, rng)

    # -- pools, for workflows other than replace (modelcollapse.workflows) ------------------
    #: Whether ``draw_pool``/``fit_pool`` exist (a pooled sufficient statistic).
    has_pools: ClassVar[bool] = False
    #: Whether pools can be subsampled exactly (accumulate-subsample without the sample path).
    exact_subsample: ClassVar[bool] = False

    def draw_pool(self, state: State, n: int, rng: np.random.Generator, method: str) -> Any:
        """The sufficient statistic of ``n`` samples from the model ``state`` (exact or naive)."""
        raise NotImplementedError

    def fit_pool(self, pool: Any) -> State:
        """The estimator applied to a pool."""
        raise NotImplementedError

    def sample(self, state: State, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` raw samples per trial, (trials, n, ...): the sample path of the workflows."""
        raise NotImplementedError

    def fit_samples(self, samples: np.ndarray) -> State:
        """The estimator applied to raw samples (trials, size, ...)."""
        raise NotImplementedError

    def refit_samples(
        self, samples: np.ndarray, previous: State, rng: np.random.Generator
    ) -> State:
        """``fit_samples`` as a workflow calls it: ``previous`` is the model that drew the
        latest samples and ``rng`` the block's stream, for estimators that need them (EM's
        random or warm initialisation); the others ignore both."""
        return self.fit_samples(samples)

    # -- the sampler stage (modelcollapse.samplers) ----------------------------------------
    #: Law stages this family applies exactly, by class name (e.g. ``("Temperature",)``).
    sampler_stages: ClassVar[tuple[str, ...]] = ()

    @property
    def sampler(self) -> Any:
        """The law stages this family samples with (a ``samplers.Sampler``), or None."""
        return self.__dict__.get("_sampler")

    def with_sampler(self, sampler: Any) -> Family:
        """This family drawing its data through ``sampler`` (see ``modelcollapse.samplers``).

        Law stages the family declares in ``sampler_stages`` are kept on a copy and applied by
        its own steps (exactly); a filter wraps the family in
        :class:`~modelcollapse.families.curated.Curated`, which runs on the sample path. Any
        other stage is a ConfigError, raised here, before any work.
        """
        from modelcollapse.samplers import Sampler, Verifier, resolve_sampler

        s = resolve_sampler(sampler)
        if s is None:
            return self
        for stage in s.laws:
            if type(stage).__name__ not in self.sampler_stages:
                key = next(iter(stage.describe()))
                allowed = ", ".join(self.sampler_stages) or "no law stage"
                raise ConfigError("sampler", key, f"{self.name} applies: {allowed} (or a filter)")
        fam: Family = self
        if s.laws:
            fam = copy.copy(self)
            object.__setattr__(fam, "_sampler", Sampler(s.laws))
        filt = s.filter
        if filt is None:
            return fam
        curation = self.verifier_curation(filt) if isinstance(filt, Verifier) else filt
        return fam.curated(curation)

    def observing(self, observables: Sequence[str]) -> Family:
        """This family for a run that reads only ``observables`` (names from
        :meth:`observables`) of its states, under replace, with no trajectory or user observer.

        A family whose exact step has parts that no such observable depends on may return a
        copy that skips them (the Gaussian's mean, when only its scale is read). The default is
        the family itself.
        """
        return self

    #: Whether the generation-0 state is a model fitted to the real data (the text models: the
    #: corpus n-gram, a network trained on the corpus) rather than the real distribution itself.
    #: Its draws are then synthetic, and pass through the sampler like any later model's.
    start_is_fitted: ClassVar[bool] = False

    def real_data_family(self) -> Family:
        """The family that draws from the generation-0 state (see :meth:`unsampled`)."""
        return self if self.start_is_fitted else self.unsampled()

    def unsampled(self) -> Family:
        """This family without its sampler: how real data is drawn.

        A sampler is how a fitted model makes synthetic data (temperature, truncation,
        curation). Draws from the generation-0 model are the real data (generation 1's training
        data, the fresh real data of the mix workflows), so the loop and the workflows take them
        from this family, never through the sampler.
        """
        if self.sampler is None:
            return self
        out = copy.copy(self)
        out.__dict__.pop("_sampler", None)
        return out

    def verifier_curation(self, verifier: Any) -> Any:
        """The curation a ``samplers.Verifier`` means for this family (regression only)."""
        raise ConfigError(
            "sampler", "verifier_tol", f"a verifier needs the regression family, not {self.name}"
        )

    def curated(self, curation: Any) -> Family:
        """This family with generated data filtered by ``curation`` (on the sample path)."""
        from modelcollapse.families.curated import Curated

        if type(self).sample is Family.sample:
            raise ConfigError("sampler", "curation", f"{self.name} has no sample path to filter")
        return Curated(inner=self, curation=curation)

    # -- what is reported ----------------------------------------------------------------
    @abstractmethod
    def observables(self) -> tuple[Observable, ...]:
        """The per-trial quantities this family reports, in a fixed order."""

    @abstractmethod
    def observe(self, state: State, rows: Sequence[int] | None = None) -> np.ndarray:
        """Per-trial values of ``observables()``, shape (number of observables, trials).

        The array may share memory with the state (a single requested row often is a state
        array); callers never modify it. With ``rows`` only those observables are returned, in
        that order; families whose
        observables are costly compute only those (the engine asks for the requested metrics'
        rows every recorded generation), the others may compute all and select.
        """

    @abstractmethod
    def trajectory_fields(self) -> tuple[str, ...]:
        """Names of the per-trial parameters recorded in trajectories."""

    @abstractmethod
    def trajectory(self, state: State) -> np.ndarray:
        """Per-trial parameters, shape (len(trajectory_fields()), trials)."""

    # -- sizing and description -----------------------------------------------------------
    def state_elements(self) -> int:
        """Number of numbers one trial's state holds (sizes the blocks)."""
        return 1

    def point_elements(self) -> int:
        """Numbers per sample point (d for d-dimensional data; sizes sample-path blocks)."""
        return 1

    def block_trials(self, method: str, n: int) -> int:
        """Trials per block: fixed by the configuration, never by the machine.

        The naive path holds n samples per trial, so its blocks shrink with n.
        """
        per_trial = self.state_elements() + (n if method == "naive" else 0)
        return int(max(1, min(SCALAR_BLOCK_TRIALS, BLOCK_ELEMENTS // per_trial)))

    def metric_names(self) -> tuple[str, ...]:
        return tuple(m for obs in self.observables() for m in obs.metric_names())

    def default_metric_names(self) -> tuple[str, ...]:
        """The metrics summarised when none are asked for (observables with ``default``)."""
        return tuple(m for obs in self.observables() if obs.default for m in obs.metric_names())

    # -- absorbing and degenerate states (time to collapse) --------------------------------
    def events(self) -> tuple[Event, ...]:
        """The collapse events whose first generation (hitting time) this family can report."""
        return ()

    def hits(self, state: State, rows: Sequence[int]) -> np.ndarray:
        """Whether each trial is in event ``events()[r]`` now, shape (len(rows), trials) bool."""
        raise NotImplementedError

    @property
    def terminal_event(self) -> str | None:
        """The event meant by "total collapse" (``until="collapse"``), or None."""
        return None

    def describe(self) -> dict[str, Any]:
        """The resolved parameters, for run.json and reports."""
        out: dict[str, Any] = {"family": self.name}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        if self.sampler is not None:
            out["sampler"] = self.sampler.describe()
        return out


def requested_rows(
    compute: Sequence[Callable[[], np.ndarray]], rows: Sequence[int] | None, trials: int
) -> np.ndarray:
    """The rows ``rows`` (all when None) of ``Family.observe``, each computed by its function.

    One requested row, the usual case in experiments, is returned as it is (often the state
    array itself, no stacking copy); several are stacked into a (rows, trials) array.
    """
    wanted = range(len(compute)) if rows is None else rows
    if len(wanted) == 1:
        return compute[wanted[0]]()[None, :]
    out = np.empty((len(wanted), trials))
    for i, r in enumerate(wanted):
        out[i] = compute[r]()
    return out


def check_finite(
    field: str,
    value: float,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    allowed: str | None = None,
) -> float:
    """Validate one real parameter; raise ConfigError naming it.

    Strict: a bool (``--param p=true``) or a string (``"0.2"`` in a sweep grid) is refused, not
    coerced to a number; ints and numpy reals are accepted.
    """
    if isinstance(value, (bool, np.bool_, str, bytes)):
        kind = type(value).__name__
        raise ConfigError(field, value, (allowed or "a real number") + f", not {kind}")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(field, value, allowed or "a real number") from None
    bad = not np.isfinite(x)
    if low is not None:
        bad = bad or (x <= low if low_open else x < low)
    if high is not None:
        bad = bad or x > high
    if bad:
        if allowed is None:
            lo = "" if low is None else (f"> {low:g}" if low_open else f">= {low:g}")
            hi = "" if high is None else f"<= {high:g}"
            allowed = "a finite number " + " and ".join(s for s in (lo, hi) if s)
        raise ConfigError(field, value, allowed.strip())
    return x


def check_real_list(field: str, values: Any) -> None:
    """Strict types inside a list parameter: every element a number, never a bool or a string.

    numpy would turn ``[True, "0.2"]`` into ``[1.0, 0.2]`` silently.
    """
    stack = [values]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, np.ndarray):
            if item.dtype.kind not in "iuf":
                raise ConfigError(field, item.tolist(), f"numbers, not {item.dtype} values")
        elif isinstance(item, (bool, np.bool_, str, bytes)) or not isinstance(
            item, (int, float, np.integer, np.floating)
        ):
            raise ConfigError(field, item, f"numbers, not {type(item).__name__}")
