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


class RunConfig(BaseModel):
    """Everything ``simulate`` needs, as plain data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    family: str
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
    #: The sampler stage as a mapping: temperature, top_k, top_p, truncation, verifier_tol.
    sampler: dict[str, Any] | None = None

    @field_validator("eps")
    @classmethod
    def _eps_positive(cls, value: list[float]) -> list[float]:
        for e in value:
            if not np.isfinite(e) or e <= 0:
                raise ValueError(f"every eps must be a finite number > 0, got {e!r}")
        return value

    def build_family(self) -> Family:
        """The family object, with a counts file read if one is given."""
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
            "sampler": self.sampler,
        }

    def validate(self) -> None:
        """Everything ``simulate`` would reject, checked now (family, schedule, workflow)."""
        # Imported here: configs sit below the families and the engine in the layers, and only
        # this check needs them.
        from modelcollapse.workflows import Schedule, check_workflow

        fam = self.build_family().with_sampler(self.sampler)
        sizes = Schedule.parse(self.schedule, self.n).sizes(self.generations)
        check_n = getattr(fam, "check_n", None)
        if check_n is not None:
            check_n(int(sizes.min()))
        method = self.method or ("exact" if fam.has_exact else "naive")
        check_workflow(self.workflow, self.real_fraction, fam, method, sizes)


_INT_FIELDS = {"n", "generations", "trials", "seed", "record_every", "workers"}


def from_pydantic_error(exc: ValidationError) -> ConfigError:
    """The first problem of a pydantic ValidationError as a ConfigError naming its field."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "config"
    value = err.get("input")
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = "unknown key; allowed keys: " + ", ".join(RunConfig.model_fields)
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
    return make_config(**raw)
