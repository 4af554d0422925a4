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

from modelcollapse.errors import ConfigError
from modelcollapse.families import Family, make_family


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
    """Everything ``simulate`` needs, as plain data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str | None = None
    model: ModelConfig | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    counts_file: str | None = None
    n: int = Field(ge=1)
    generations: int = Field(ge=0)
    trials: int = Field(ge=1)
    seed: int = Field(ge=0)
    estimator: str | None = None
    method: Literal["exact", "naive"] | None = None
    eps: list[float] = Field(default_factory=list)
    metrics: list[str] | None = None
    trajectories: bool | int = False
    record_every: int = Field(default=1, ge=1)
    workflow: Literal["replace", "accumulate", "accumulate-subsample", "mix", "mix-fixed"] = (
        "replace"
    )
    real_fraction: float | None = None
    schedule: str | list[int] | dict[str, Any] | None = None
    workers: int = Field(default=1, ge=1)
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

        fam = self.build_family()
        sizes = Schedule.parse(self.schedule, self.n).sizes(self.generations)
        check_n = getattr(fam, "check_n", None)
        if check_n is not None:
            check_n(int(sizes.min()))
        method = self.method or ("exact" if fam.has_exact else "naive")
        check_workflow(self.workflow, self.real_fraction, fam, method, sizes)
        if self.resolved_executor != "threads" or self.scheduler is not None:
            from modelcollapse.engine.executors import check_executor

            check_executor(fam, self.resolved_executor, self.scheduler, None, None)


_INT_FIELDS = {"n", "generations", "trials", "seed", "record_every", "workers"}


def from_pydantic_error(exc: ValidationError) -> ConfigError:
    """The first problem of a pydantic ValidationError as a ConfigError naming its field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "config"
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        table = ModelConfig if err["loc"][:1] == ("model",) and len(err["loc"]) > 1 else RunConfig
        allowed = "unknown key; allowed keys: " + ", ".join(table.model_fields)
    elif kind in (
        "greater_than_equal",
        "greater_than",
        "less_than_equal",
        "int_type",
        "int_parsing",
        "int_from_float",
    ):
        ctx = err.get("ctx", {})
        bound = next(
            (
                f"{op} {ctx[key]}"
                for key, op in (("ge", ">="), ("gt", ">"), ("le", "<="))
                if key in ctx
            ),
            "",
        )
        allowed = (
            f"an integer {bound}".strip() if field in _INT_FIELDS else f"a number {bound}".strip()
        )
    elif kind == "string_pattern_mismatch":
        allowed = "package.module:Name"
    elif kind == "missing":
        allowed = "required"
        value = "missing"
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
