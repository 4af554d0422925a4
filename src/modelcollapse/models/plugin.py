"""Bring your own model: the plug-in protocol and the per-trial model that runs it.

A plug-in is any object with two methods (the names follow scikit-learn's ``fit``/``sample``)::

    class MyModel:
        def fit(self, data, rng):          # -> a fitted model (a new object)
            ...
        def sample(self, fitted, n, rng):  # -> n new points, shaped like the real data
            ...
        # optional: per-point log-density, for the held-out log-likelihood metric
        def log_prob(self, fitted, data):  # -> array of len(data)
            ...

``data`` is a numpy array: numbers as (n, d) floats, text as a 1-D object array of token tuples
(``modelcollapse.models.sources``). ``rng`` is the trial's ``numpy.random.Generator``: a plug-in
draws all its randomness from it, so results are fixed by (seed, cell, trial) and identical for
any executor and number of workers. The plug-in object itself is configuration: ``fit`` must not
mutate it (scikit-learn's convention: estimators are cloned, ``modelcollapse.models.sklearn``),
because one plug-in object serves every generation of every trial.

:class:`PluginModel` makes a plug-in and a source of real data into a per-trial model of the
generation loop (``modelcollapse.models.base``). Generation 0 is the source (a distribution, or
a data set sampled without replacement); generation k >= 1 is the plug-in fitted to the training
data of the workflow (``replace``: n_k points sampled from model k - 1). Every output of the
plug-in is checked, and a failure stops the run with a :class:`PluginError` naming the trial, the
generation and what was wrong.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Observable
from modelcollapse.models.base import PerTrialModel
from modelcollapse.models.sources import Source, describe_shape, event_shape, make_source


@runtime_checkable
class Plugin(Protocol):
    """What a plug-in model provides (``log_prob`` is optional)."""

    def fit(self, data: np.ndarray, rng: np.random.Generator) -> Any: ...

    def sample(self, fitted: Any, n: int, rng: np.random.Generator) -> Any: ...


class PluginError(RuntimeError):
    """A plug-in failed (raised, or returned NaN or data of the wrong shape) during a run."""

    def __init__(self, what: str, *, generation: int | None = None, trial: int | None = None):
        self.what, self.generation, self.trial = what, generation, trial
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.trial is not None:
            where.append(f"trial {self.trial}")
        if self.generation is not None:
            where.append(f"generation {self.generation}")
        return f"plug-in failed in {', '.join(where) or 'a run'}: {self.what}"

    def at_trial(self, trial: int) -> PluginError:
        return PluginError(self.what, generation=self.generation, trial=trial)

    def __reduce__(self) -> Any:  # picklable across worker processes
        return (_rebuild_error, (self.what, self.generation, self.trial))


def _rebuild_error(what: str, generation: int | None, trial: int | None) -> PluginError:
    return PluginError(what, generation=generation, trial=trial)


def import_object(spec: str, field_name: str = "model") -> Any:
    """``package.module:Name`` -> the object (ConfigError if it cannot be imported)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(field_name, spec, "package.module:Name")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(field_name, spec, f"an importable module ({exc})") from None
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(field_name, spec, f"a name defined in {module_name}")
        obj = getattr(obj, part)
    return obj


def load_plugin(model: Any, params: Mapping[str, Any] | None = None) -> Any:
    """A plug-in from an object, or from ``package.module:Name`` called with ``params``.

    Anything with ``fit`` and ``sample`` that is not itself a plug-in (a scikit-learn estimator
    such as ``KernelDensity``) is wrapped by ``modelcollapse.models.sklearn.SklearnPlugin``.
    """
    params = dict(params or {})
    if isinstance(model, str):
        obj = import_object(model)
        if callable(obj):
            try:
                obj = obj(**params)
            except TypeError as exc:
                raise ConfigError("model_params", params, f"arguments of {model} ({exc})") from None
        elif params:
            raise ConfigError("model_params", params, f"{model} is not callable")
        model = obj
    elif params:
        raise ConfigError("model_params", params, "give parameters with a model name only")
    if isinstance(model, type):
        raise ConfigError("model", model.__qualname__, "an instance (call the class first)")
    if _is_plugin(model):
        return model
    if hasattr(model, "fit") and hasattr(model, "sample"):
        from modelcollapse.models.sklearn import SklearnPlugin

        return SklearnPlugin(model)
    raise ConfigError(
        "model",
        type(model).__name__,
        "a plug-in with fit(data, rng) and sample(fitted, n, rng), or an estimator with "
        "fit(X) and sample(n)",
    )


def _is_plugin(obj: Any) -> bool:
    import inspect

    if isinstance(obj, type) or not isinstance(obj, Plugin):
        return False
    try:
        fit = inspect.signature(obj.fit)
        sample = inspect.signature(obj.sample)
    except (TypeError, ValueError):
        return True
    # scikit-learn's estimators have fit(X, y=None) and sample(n_samples, random_state=None):
    # the protocol's sample takes three arguments.
    return "rng" in fit.parameters or len(sample.parameters) >= 3


@dataclass(frozen=True)
class PluginState:
    """One trial at one generation: the fitted model (None for the real source, generation 0)."""

    fitted: Any
    generation: int


@dataclass(frozen=True, eq=False)
class PluginModel(PerTrialModel):
    """Recursive training of a plug-in model, one trial at a time.

    Parameters
    ----------
    model : a plug-in (``fit(data, rng)``, ``sample(fitted, n, rng)``), an estimator with
        ``fit`` and ``sample`` (scikit-learn), or ``"package.module:Name"``.
    source : the real data: a built-in family name (with ``source_params``), a data file, a
        callable ``sampler(n, rng)``, an array or list of sequences (``models.sources``).
    model_params, source_params : keyword arguments for ``model`` / ``source`` given by name.
    user_metrics : ``{name: metric(fitted, real) -> float}``, reported per recorded generation
        with their standard errors across trials (``real`` is the trial's reference sample).
    reference_size : points in each trial's reference sample of real data and in the model
        sample the distances are computed from (default: min(1000, the data set's size)).
    """

    name: ClassVar[str] = "plugin"

    model: Any = None
    source: Any = "gaussian"
    model_params: Mapping[str, Any] = field(default_factory=dict)
    source_params: Mapping[str, Any] = field(default_factory=dict)
    user_metrics: Mapping[str, Callable[[Any, np.ndarray], float]] = field(default_factory=dict)
    reference_size: int | None = None
    estimator: str = "ml"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.model is None:
            raise ConfigError("model", None, "a plug-in model (package.module:Name or an object)")
        plugin = load_plugin(self.model, self.model_params)
        src = make_source(self.source, dict(self.source_params) or None)
        object.__setattr__(self, "_plugin", plugin)
        object.__setattr__(self, "_source", src)
        shape = event_shape(src.example())
        object.__setattr__(self, "_shape", shape)
        for key, fn in dict(self.user_metrics).items():
            if not isinstance(key, str) or not key or not callable(fn):
                raise ConfigError("user_metrics", key, "a mapping of names to metric(fitted, real)")
        ref = self.reference_size
        if ref is None:
            ref = min(1000, getattr(src, "size", 1000))
        if isinstance(ref, bool) or not isinstance(ref, (int, np.integer)) or ref < 2:
            raise ConfigError("reference_size", ref, "an integer >= 2")
        src.check_n(int(ref), "reference_size")
        object.__setattr__(self, "reference_size", int(ref))

    # -- what the run needs ------------------------------------------------------------------
    @property
    def plugin(self) -> Any:
        return self._plugin  # type: ignore[attr-defined]

    @property
    def real(self) -> Source:
        return self._source  # type: ignore[attr-defined]

    @property
    def data_shape(self) -> tuple[int, ...] | None:
        """The shape of one point (None for text)."""
        return self._shape  # type: ignore[attr-defined]

    def check_n(self, n: int) -> None:
        if n < 1:
            raise ConfigError("n", n, "sample sizes >= 1")
        self.real.check_n(n)

    # -- the per-trial model -------------------------------------------------------------
    def start(self) -> PluginState:
        return PluginState(None, 0)

    def generate(self, state: PluginState, n: int, rng: np.random.Generator) -> np.ndarray:
        if state.fitted is None:
            try:
                return self.real.draw(n, rng)
            except Exception as exc:
                raise PluginError(
                    f"the source raised {type(exc).__name__}: {exc}", generation=0
                ) from exc
        try:
            out = self.plugin.sample(state.fitted, n, rng)
        except Exception as exc:
            raise PluginError(
                f"sample raised {type(exc).__name__}: {exc}", generation=state.generation
            ) from exc
        return self.check_data(out, n, state.generation)

    def refit(self, data: np.ndarray, rng: np.random.Generator, generation: int = -1) -> Any:
        try:
            fitted = self.plugin.fit(data, rng)
        except Exception as exc:
            what = f"fit raised {type(exc).__name__}: {exc}"
            raise PluginError(what, generation=generation) from exc
        if fitted is None:
            what = "fit returned None (it must return the fitted model)"
            raise PluginError(what, generation=generation)
        return PluginState(fitted, generation)

    def step_naive(self, state: PluginState, n: int, rng: np.random.Generator) -> PluginState:
        # draw, not generate: a curation filter applies to what the plug-in samples.
        return self.refit(self.draw(state, n, rng), rng, state.generation + 1)

    def check_data(self, out: Any, n: int, generation: int) -> np.ndarray:
        """The plug-in's sample as data of the real data's shape, or a PluginError."""
        shape = self.data_shape
        if shape is None:
            from modelcollapse.models.sources import as_sequences

            try:
                # Text: one sequence per item, whatever their lengths (equal ones included).
                is_seqs = isinstance(out, np.ndarray) and out.dtype == object and out.ndim == 1
                data = out if is_seqs else as_sequences(list(out), "sample")
            except (TypeError, ValueError) as exc:
                raise PluginError(f"sample returned {exc}", generation=generation) from None
            if len(data) != n:
                raise PluginError(
                    f"sample returned {len(data)} items of {data.dtype}, expected {n} sequences",
                    generation=generation,
                )
            return data
        data = out if isinstance(out, np.ndarray) else np.asarray(out, dtype=float)
        if data.ndim == 1 and shape == (1,):
            data = data[:, None]
        if data.shape != (n, *shape):
            raise PluginError(
                f"sample returned shape {data.shape}, expected {(n, *shape)} "
                f"(real data are {describe_shape(shape)})",
                generation=generation,
            )
        if data.dtype.kind not in "fiub":
            what = f"sample returned dtype {data.dtype}, expected numbers"
            raise PluginError(what, generation=generation)
        if data.dtype.kind != "f":
            data = data.astype(float)
        if not np.isfinite(data).all():
            bad = int(np.count_nonzero(~np.isfinite(data)))
            raise PluginError(
                f"sample returned {bad} non-finite values (NaN or inf)", generation=generation
            )
        return data

    # -- the workflows' sample path (modelcollapse.workflows) ------------------------------
    def sample(self, state: PluginState, n: int, rng: np.random.Generator) -> np.ndarray:
        return self.draw(state, n, rng)[None]

    def fit_samples(self, samples: np.ndarray) -> Any:
        raise NotImplementedError("plug-ins need the trial's generator: use fit_samples_at")

    def fit_samples_at(self, samples: np.ndarray, rng: np.random.Generator, generation: int) -> Any:
        """The workflows' fit: the plug-in fitted to the pooled data of trial's block of one."""
        return self.refit(samples[0], rng, generation)

    # -- what is reported: the plug-in metrics observer (modelcollapse.models.metrics) -----
    def observables(self) -> tuple[Observable, ...]:
        return ()

    def values(self, state: PluginState) -> Sequence[float]:
        return ()

    def run_observers(self, keep: Sequence[str] | None) -> list[Any]:
        """The observers ``simulate`` adds for this model (its metrics)."""
        from modelcollapse.models.metrics import PluginMetrics

        return [PluginMetrics(keep=keep)]

    def metric_names(self) -> tuple[str, ...]:
        from modelcollapse.models.metrics import plugin_metric_names

        return plugin_metric_names(self)

    def describe(self) -> dict[str, Any]:
        out = {
            "family": self.name,
            "model": _describe_model(self.model, self.plugin),
            "model_params": dict(self.model_params),
            **{f"source_{k}" if k != "source" else k: v for k, v in self.real.describe().items()},
            "source_params": dict(self.source_params),
            "user_metrics": sorted(self.user_metrics),
            "reference_size": self.reference_size,
        }
        # The sampler changes every trial's numbers: run.json and the checkpoints' fingerprint
        # (which is built from this description) must both see it.
        stages = [*(self.sampler.describe() if self.sampler is not None else [])]
        curation = self.__dict__.get("_curation")
        if curation is not None:
            stages.append(curation.describe())
        if stages:
            out["sampler"] = stages
        return out


def _describe_model(model: Any, plugin: Any) -> str:
    if isinstance(model, str):
        return model
    describe = getattr(plugin, "describe", None)
    if callable(describe):
        return str(describe())
    # The class and its plain settings: part of the checkpoints' fingerprint, so that a plug-in
    # built with other parameters never reuses another's stored trials.
    name = f"{type(model).__module__}:{type(model).__qualname__}"
    settings = {
        k: v
        for k, v in sorted(getattr(model, "__dict__", {}).items())
        if isinstance(v, (bool, int, float, str, type(None), tuple))
    }
    return name + "(" + ", ".join(f"{k}={v!r}" for k, v in settings.items()) + ")"
