"""Run configurations: pydantic models, loaded from TOML or built from command-line options.

Every invalid value is rejected before any work starts, as a ConfigError whose message names the
field, the value and what is allowed. A TOML run file has top-level settings and a ``[params]``
table with the family's parameters::

    family = "gaussian"
    estimator = "unbiased"
    n = 100
    generations = 2500
    trials = 25
    seed = 42
    eps = [0.1]

    [params]
    mu = 0.0
    sigma = 1.0

A plug-in model (``docs/plugins.md``) replaces ``family``/``[params]`` by a ``[model]`` table::

    n = 100
    generations = 20
    trials = 200
    seed = 1
    workers = 2              # local processes (executor = "processes", the plug-in default)

    [model]
    name = "modelcollapse.models.sklearn:kernel_density"
    source = "gaussian"      # a family name, a data file, or package.module:sampler
    [model.params]
    bandwidth = 0.3
    [model.source_params]
    sigma = 1.0
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelcollapse import limits
from modelcollapse.errors import ConfigError
from modelcollapse.families import Family, make_family

#: Largest integer setting (numpy's int64).
_INT_MAX = limits.INT64_MAX


class ModelConfig(BaseModel):
    """A plug-in model (``modelcollapse.models.plugin``) and the source of its real data."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
    params: dict[str, Any] = Field(default_factory=dict)
    source: str = "gaussian"
    source_params: dict[str, Any] = Field(default_factory=dict)
    reference_size: int | None = Field(default=None, ge=2)

    def build(self) -> Family:
        from modelcollapse.models.plugin import PluginModel

        return PluginModel(
            model=self.name,
            model_params=dict(self.params),
            source=self.source,
            source_params=dict(self.source_params),
            reference_size=self.reference_size,
        )


class RunConfig(BaseModel):
    """Everything ``simulate`` needs, as plain data.

    Strict types (pydantic strict mode): a TOML ``n = true`` or ``n = "100"`` is refused rather
    than coerced to 1 or 100, ``trajectories = "yes"`` is not a boolean, and a float field takes
    integers but never strings.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    family: str | None = None
    model: ModelConfig | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    counts_file: str | None = None
    n: int = Field(ge=1, le=_INT_MAX)
    generations: int = Field(ge=0, le=_INT_MAX)
    trials: int = Field(ge=1, le=_INT_MAX)
    seed: int = Field(ge=0, le=_INT_MAX)
    estimator: str | None = None
    method: Literal["exact", "naive"] | None = None
    eps: list[float] = Field(default_factory=list)
    metrics: list[str] | None = None
    trajectories: bool | int = False
    record_every: int = Field(default=1, ge=1, le=_INT_MAX)
    workflow: Literal["replace", "accumulate", "accumulate-subsample", "mix", "mix-fixed"] = (
        "replace"
    )
    real_fraction: float | None = None
    schedule: str | list[int] | dict[str, Any] | None = None
    workers: int = Field(default=1, ge=1, le=1024)
    until: str | None = None
    observers: list[str] = Field(default_factory=list)
    #: The sampler stage as a mapping: temperature, top_k, top_p, truncation, verifier_tol.
    sampler: dict[str, Any] | None = None
    #: None: processes for plug-in models, threads for the built-in families.
    executor: Literal["threads", "processes", "dask"] | None = None
    scheduler: str | None = None

    @field_validator("eps")
    @classmethod
    def _eps_positive(cls, value: list[float]) -> list[float]:
        for e in value:
            if not np.isfinite(e) or e <= 0:
                raise ValueError(f"every eps must be a finite number > 0, got {e!r}")
        return value

    def build_family(self) -> Family:
        """The family object, with a counts file read if one is given."""
        if (self.family is None) == (self.model is None):
            raise ConfigError(
                "family",
                self.family if self.family is not None else "missing",
                "give exactly one of family (a built-in family) or [model] (a plug-in)",
            )
        if self.model is not None:
            for key, value in (("params", self.params), ("counts_file", self.counts_file),
                               ("estimator", self.estimator), ("eps", self.eps)):
                if value:
                    raise ConfigError(key, value, "not used by plug-in models (see [model])")
            return self.model.build()
        params = dict(self.params)
        if self.counts_file is not None:
            if self.family != "categorical":
                raise ConfigError(
                    "counts_file",
                    self.counts_file,
                    "counts files start the categorical family only",
                )
            if "p" in params or "counts" in params:
                raise ConfigError(
                    "counts_file", self.counts_file, "give counts_file or p/counts, not both"
                )
            from modelcollapse.data.counts import read_counts

            symbols, counts = read_counts(self.counts_file)
            params.update(counts=counts, symbols=tuple(symbols))
        return make_family(self.family, params, estimator=self.estimator, eps=self.eps)

    def simulate_kwargs(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "generations": self.generations,
            "trials": self.trials,
            "seed": self.seed,
            "method": self.method,
            "metrics": self.metrics,
            "trajectories": self.trajectories,
            "record_every": self.record_every,
            "workflow": self.workflow,
            "real_fraction": self.real_fraction,
            "schedule": self.schedule,
            "workers": self.workers,
            "until": self.until,
            "observers": list(self.observers),
            "sampler": self.sampler,
            "executor": self.resolved_executor,
            "scheduler": self.scheduler,
        }

    @property
    def resolved_executor(self) -> str:
        if self.executor is not None:
            return self.executor
        return "processes" if self.model is not None else "threads"

    def validate(self) -> None:
        """Everything ``simulate`` would reject, checked now (family, schedule, workflow)."""
        # Imported here: configs sit below the families and the engine in the layers, and only
        # this check needs them.
        from modelcollapse.workflows import Schedule, check_workflow

        # Sizes numpy cannot hold or this machine cannot store, before anything is allocated
        # (the schedule below would otherwise allocate generations + 1 numbers first).
        limits.check_run_size(
            n=self.n,
            generations=self.generations,
            trials=self.trials,
            record_every=self.record_every,
        )
        fam = self.build_family().with_sampler(self.sampler)
        sizes = Schedule.parse(self.schedule, self.n).sizes(self.generations)
        check_n = getattr(fam, "check_n", None)
        n_max = int(sizes.max())
        if check_n is not None:
            # The smallest size must be large enough; the largest must not overflow a sampler.
            check_n(int(sizes.min()))
            check_n(n_max)
        method = self.method or ("exact" if fam.has_exact else "naive")
        if method == "naive":
            limits.check_naive_memory("n", n_max)
        per_step = fam.state_elements() + (n_max if method == "naive" else 0)
        limits.check_work(trials=self.trials, generations=self.generations, per_step=per_step)
        check_workflow(self.workflow, self.real_fraction, fam, method, sizes)
        if self.resolved_executor != "threads" or self.scheduler is not None:
            from modelcollapse.engine.executors import check_executor

            check_executor(fam, self.resolved_executor, self.scheduler, None)


_INT_FIELDS = {"n", "generations", "trials", "seed", "record_every", "workers"}


#: What each field takes, for messages about wrong types (strict mode names no range).
_ALLOWED_TYPES = {
    "family": "a family name (a string)",
    "params": "a table of the family's parameters",
    "counts_file": "a path (a string)",
    "estimator": "an estimator name (a string)",
    "method": "'exact' or 'naive'",
    "eps": "a list of numbers > 0",
    "metrics": "a list of metric names (strings)",
    "trajectories": "true, false or a number of trials (an integer >= 1)",
    "workflow": "one of: replace, accumulate, accumulate-subsample, mix, mix-fixed",
    "real_fraction": "a number from 0 to 1",
    "schedule": "a schedule string (linear:a=A, geometric:r=R, power:a=A, list:N1,N2,...), "
    "a list of integers or a table",
}


def from_pydantic_error(exc: ValidationError) -> ConfigError:
    """The first problem of a pydantic ValidationError as a ConfigError naming its field.

    For a field whose type is a union (``trajectories: bool | int``) pydantic reports one error
    per member, located at ``(field, member)``; the field alone is named, with what it takes.
    """
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    top = loc[0] if loc else "config"
    union = top in _ALLOWED_TYPES and len(loc) > 1 and top != "params"
    field = top if union else (".".join(loc) or "config")
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        table = ModelConfig if err["loc"][:1] == ("model",) and len(err["loc"]) > 1 else RunConfig
        allowed = "unknown key; allowed keys: " + ", ".join(table.model_fields)
    elif field in _INT_FIELDS and kind in (
        "greater_than_equal",
        "greater_than",
        "less_than_equal",
        "int_type",
        "int_parsing",
        "int_from_float",
    ):
        low = RunConfig.model_fields[field].metadata
        bounds = {type(m).__name__: m for m in low}
        lo = getattr(bounds.get("Ge"), "ge", None)
        hi = getattr(bounds.get("Le"), "le", None)
        allowed = "an integer" + (f" from {lo} to {hi}" if lo is not None and hi else "")
        if kind == "int_type":
            allowed += f" (not {type(value).__name__})"
    elif kind == "string_pattern_mismatch":
        allowed = "package.module:Name"
    elif kind == "missing":
        allowed = "required"
        value = "missing"
    elif top in _ALLOWED_TYPES:
        allowed = _ALLOWED_TYPES[top] + f" (got {type(value).__name__})"
        if union:
            value = exc.errors()[0].get("input")
    else:
        allowed = err["msg"]
    return ConfigError(field, value, allowed)


def make_config(**values: Any) -> RunConfig:
    """Validate a configuration (pydantic) and build its family once, so bad values fail now."""
    try:
        cfg = RunConfig(**values)
    except ValidationError as exc:
        raise from_pydantic_error(exc) from None
    cfg.validate()
    return cfg


def load_toml(path: str | os.PathLike) -> RunConfig:
    """Read and validate a TOML run file; relative ``counts_file`` paths are resolved against it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("config file", str(path), "an existing TOML file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("config file", str(path), f"valid TOML ({exc})") from None
    counts_file = raw.get("counts_file")
    if isinstance(counts_file, str) and not os.path.isabs(counts_file):
        raw["counts_file"] = str(path.parent / counts_file)
    model = raw.get("model")
    if isinstance(model, dict) and isinstance(model.get("source"), str):
        # A data file named relative to the config file; family names and module:sampler stay.
        from modelcollapse.models.sources import FILE_TYPES

        src = model["source"]
        if Path(src).suffix in FILE_TYPES and not os.path.isabs(src):
            raw["model"] = {**model, "source": str(path.parent / src)}
    return make_config(**raw)
