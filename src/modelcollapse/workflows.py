"""Workflows (what each generation trains on) and sample-size schedules.

- ``replace`` (the paper): generation k trains on n_k samples of model k-1 only.
- ``accumulate``: on all data so far, the real data (generation 1's sample of the real model)
  plus every generation's synthetic sample (Gerstgrasser et al. 2024, "Is model collapse
  inevitable?").
- ``accumulate-subsample``: all data is kept, but each generation trains on a uniform subsample
  of n_k of it (without replacement).
- ``mix``: a fraction lambda of fresh real data (drawn from the generation-0 model) and
  1 - lambda synthetic data, n_k in total (Bertrand et al. 2024).
- ``mix-fixed``: the same real sample of round(lambda n) points every generation, plus
  n - round(lambda n) synthetic points.

They are implemented on additive pools (``modelcollapse.pools``): for the exact families
(Bernoulli, Poisson, categorical, Gaussian, multivariate Gaussian) the pools are sufficient
statistics, so accumulate stays O(1) per trial and generation, and subsampling a count pool is
exact (multivariate hypergeometric). Where no exact pooled law exists (accumulate-subsample for
the Poisson and both Gaussian families, whose pooled statistics do not determine a subsample's;
every workflow of the mixtures, which have no finite sufficient statistic) the raw samples are
kept (the sample path). Generation 1 always trains on real data, so ``real_fraction`` (the share
of the training data drawn from the generation-0 model) is 1 there.

Schedules give n_k for k >= 1: ``constant`` (n), ``linear`` (n + a k), ``geometric`` (n r^k),
``power`` (n k^a), or an explicit ``list``; values are rounded to integers. Superlinear growth is
the known way to avoid collapse.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Family
from modelcollapse.pools import SamplePool

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample", "mix", "mix-fixed")
SCHEDULES = ("constant", "linear", "geometric", "power", "list")


@dataclass(frozen=True)
class Schedule:
    """n_k, the number of samples drawn (or trained on) in generation k >= 1."""

    kind: str = "constant"
    n: int = 1
    a: float = 0.0
    r: float = 1.0
    values: tuple[int, ...] = ()

    def sizes(self, generations: int) -> np.ndarray:
        """n_1 .. n_G as int64 (index 0 is unused and set to n)."""
        k = np.arange(generations + 1, dtype=float)
        if self.kind == "constant":
            out = np.full(generations + 1, float(self.n))
        elif self.kind == "linear":
            out = self.n + self.a * k
        elif self.kind == "geometric":
            out = self.n * self.r**k
        elif self.kind == "power":
            out = self.n * np.maximum(k, 1.0) ** self.a
        else:
            if len(self.values) < generations:
                raise ConfigError(
                    "schedule",
                    f"list of {len(self.values)} sizes",
                    f"one size per generation ({generations})",
                )
            out = np.array([self.n, *self.values[:generations]], dtype=float)
        if not np.all(np.isfinite(out)) or out.max(initial=0) > 2**62:
            raise ConfigError("schedule", self.describe(), "sizes that fit in a 64-bit integer")
        sizes = np.rint(out).astype(np.int64)
        sizes[0] = self.n
        return sizes

    def describe(self) -> str:
        if self.kind == "constant":
            return "constant"
        if self.kind == "list":
            return "list:" + ",".join(map(str, self.values))
        return f"{self.kind}:" + (f"a={self.a:g}" if self.kind != "geometric" else f"r={self.r:g}")

    @classmethod
    def parse(cls, spec: Any, n: int) -> Schedule:
        """From ``None``/"constant", "linear:a=10", "geometric:r=1.05", "power:a=1.5",
        "list:10,20,30", a list of sizes, or a dict {"kind": ..., "a"/"r"/"values": ...}."""
        if spec is None or spec == "constant":
            return cls("constant", n)
        if isinstance(spec, (list, tuple)):
            return cls._list(spec, n)
        if isinstance(spec, dict):
            spec = dict(spec)
            kind = spec.pop("kind", None)
            if kind == "list":
                return cls._list(spec.pop("values", []), n)
            args = spec
        elif isinstance(spec, str):
            kind, _, rest = spec.partition(":")
            if kind == "list":
                return cls._list([v for v in rest.split(",") if v.strip()], n)
            args = {}
            for part in filter(None, (p.strip() for p in rest.split(","))):
                key, eq, value = part.partition("=")
                if not eq:
                    raise ConfigError("schedule", spec, "KIND:NAME=VALUE, e.g. linear:a=10")
                args[key.strip()] = value
        else:
            raise ConfigError("schedule", spec, "a schedule such as 'linear:a=10'")
        if kind not in SCHEDULES:
            raise ConfigError("schedule", kind, f"one of: {', '.join(SCHEDULES)}")
        needs = {"constant": set(), "linear": {"a"}, "geometric": {"r"}, "power": {"a"}}[kind]
        if set(args) != needs:
            raise ConfigError(
                "schedule",
                spec,
                f"{kind} takes exactly: {', '.join(sorted(needs)) or 'no parameters'}",
            )
        values = {}
        for key, value in args.items():
            try:
                values[key] = float(value)
            except (TypeError, ValueError):
                raise ConfigError(f"schedule {key}", value, "a number") from None
            if not math.isfinite(values[key]):
                raise ConfigError(f"schedule {key}", value, "a finite number")
        if kind == "geometric" and values["r"] <= 0:
            raise ConfigError("schedule r", values["r"], "a ratio > 0")
        if kind == "linear" and values["a"] < 0:
            raise ConfigError("schedule a", values["a"], "a slope >= 0 (sizes must stay >= 1)")
        return cls(kind, n, **values)

    @classmethod
    def _list(cls, values: Sequence[Any], n: int) -> Schedule:
        try:
            sizes = tuple(int(v) for v in values)
        except (TypeError, ValueError):
            raise ConfigError("schedule", list(values), "a list of integer sizes") from None
        if not sizes or min(sizes) < 1:
            raise ConfigError("schedule", list(values), "a non-empty list of sizes >= 1")
        return cls("list", n, values=sizes)


def check_workflow(
    workflow: str, real_fraction: float | None, fam: Family, method: str, sizes: np.ndarray
) -> float:
    """Validate a workflow for a family; return lambda (0 where it does not apply)."""
    if workflow not in WORKFLOWS:
        raise ConfigError("workflow", workflow, f"one of: {', '.join(WORKFLOWS)}")
    if workflow in ("mix", "mix-fixed"):
        if real_fraction is None:
            raise ConfigError("real_fraction", None, f"{workflow} needs a real fraction in [0, 1]")
        lam = float(real_fraction)
        if not 0.0 <= lam <= 1.0 or not math.isfinite(lam):
            raise ConfigError("real_fraction", real_fraction, "a fraction in [0, 1]")
        if workflow == "mix-fixed" and len(set(sizes[1:].tolist())) > 1:
            raise ConfigError(
                "schedule",
                "non-constant",
                "mix-fixed reuses one real sample, so it needs a constant n",
            )
    elif real_fraction is not None:
        raise ConfigError(
            "real_fraction", real_fraction, f"only the mix workflows use it, not {workflow}"
        )
    else:
        lam = 0.0
    if workflow != "replace":
        sample_path = needs_sample_path(fam, workflow)
        if not sample_path and not fam.has_pools:
            raise ConfigError("workflow", workflow, f"{fam.name} supports replace only")
        if sample_path and type(fam).sample is Family.sample:
            raise ConfigError("workflow", workflow, f"{fam.name} has no sample path for {workflow}")
    return lam


def needs_sample_path(fam: Family, workflow: str) -> bool:
    """Whether the raw samples must be kept: no pooled law, or no exact pooled subsample."""
    if not fam.has_pools:
        return True
    return workflow == "accumulate-subsample" and not fam.exact_subsample


class WorkflowRun:
    """Advances one block of trials under a workflow, keeping its pools between generations."""

    def __init__(
        self, fam: Family, workflow: str, lam: float, sizes: np.ndarray, method: str, trials: int
    ):
        self.fam, self.workflow, self.lam, self.sizes = fam, workflow, lam, sizes
        self.method, self.trials = method, trials
        self.samples = needs_sample_path(fam, workflow)
        # Draws from the generation-0 model are real data: never through the sampler (unless
        # that model was fitted to the real data, Family.start_is_fitted).
        self.real_fam = fam.real_data_family()
        self.start = fam.initial_state(trials)
        self.real = None  # pool of real data (accumulate*, mix-fixed)
        self.synthetic = None  # pool of synthetic data (accumulate*)

    # Pools of either kind -----------------------------------------------------------------
    def _draw(self, state: Any, n: int, rng: np.random.Generator, *, real: bool) -> Any:
        """n points from the model of ``state``; ``real``: from the generation-0 model."""
        fam = self.real_fam if real else self.fam
        if self.samples:
            return SamplePool(fam.sample(state, n, rng))
        return fam.draw_pool(state, n, rng, self.method)

    def _fit(self, pool: Any, state: Any, rng: np.random.Generator, k: int) -> Any:
        if self.samples:
            # Per-trial models (plug-ins) fit with the trial's own generator and want to know
            # the generation they fit (for their error messages); EM wants the previous model
            # and the block's stream (refit_samples); the others ignore both.
            fit_at = getattr(self.fam, "fit_samples_at", None)
            if fit_at is not None:
                return fit_at(pool.samples, rng, k)
            return self.fam.refit_samples(pool.samples, state, rng)
        return self.fam.fit_pool(pool)

    @staticmethod
    def _join(a: Any, b: Any) -> Any:
        return b if a is None else (a if b is None else a + b)

    def _subsample(self, take: np.ndarray, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
        """A uniform subsample of ``take`` points from real + synthetic; also its real share."""
        real_size = self.real.size
        syn_size = np.zeros_like(real_size) if self.synthetic is None else self.synthetic.size
        if self.samples:
            pool = self._join(self.real, self.synthetic).samples
            total = pool.shape[1]
            # Uniform subsample without replacement: the `take` smallest of i.i.d. keys.
            order = np.argsort(rng.random((pool.shape[0], total)), axis=1)[:, : int(take[0])]
            index = order.reshape(order.shape + (1,) * (pool.ndim - 2))  # points may be vectors
            chosen = np.take_along_axis(pool, index, axis=1)
            real_share = (order < real_size[:, None]).mean(axis=1)
            return SamplePool(chosen), real_share
        # Split first (how many real points), then draw within each part: both hypergeometric,
        # so the subsample is uniform over all kept points.
        n_real = take
        if self.synthetic is not None:
            n_real = rng.hypergeometric(real_size, syn_size, take)
        parts = self.real.subsample(n_real, rng)
        if self.synthetic is not None:
            parts = parts + self.synthetic.subsample(take - n_real, rng)
        return parts, n_real / take

    # One generation ----------------------------------------------------------------------
    def step(self, state: Any, k: int, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
        """Model k from model k-1 (``state``); returns it and the real share of its data."""
        n = int(self.sizes[k])
        fam, wf = self.fam, self.workflow
        ones = np.ones(self.trials)
        if wf == "replace":
            if k == 1:
                return self.real_fam.step(state, n, rng, self.method), ones
            return fam.step(state, n, rng, self.method), 0 * ones
        if wf in ("accumulate", "accumulate-subsample"):
            new = self._draw(state, n, rng, real=k == 1)
            if k == 1:
                self.real = new
            else:
                self.synthetic = self._join(self.synthetic, new)
            if wf == "accumulate":
                pool = self._join(self.real, self.synthetic)
                return self._fit(pool, state, rng, k), self.real.size / pool.size
            pool, real_share = self._subsample(np.full(self.trials, n, dtype=np.int64), rng)
            return self._fit(pool, state, rng, k), real_share
        n_real = int(round(self.lam * n))
        if wf == "mix-fixed":
            if self.real is None and n_real > 0:
                self.real = self._draw(self.start, n_real, rng, real=True)
            real = self.real
        else:
            real = self._draw(self.start, n_real, rng, real=True) if n_real > 0 else None
        # Generation 1's "synthetic" part comes from the generation-0 model: real data too.
        syn = self._draw(state, n - n_real, rng, real=k == 1) if n - n_real > 0 else None
        share = ones if k == 1 else ones * (n_real / n)
        return self._fit(self._join(real, syn), state, rng, k), share
