"""Model families, by name. ``make_family`` turns a name and parameters into a family object."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Family, Observable
from modelcollapse.families.bernoulli import Bernoulli
from modelcollapse.families.categorical import Categorical
from modelcollapse.families.gaussian import Gaussian
from modelcollapse.families.gmm import GMM
from modelcollapse.families.mixture2 import Mixture2
from modelcollapse.families.mvgaussian import MVGaussian
from modelcollapse.families.poisson import Poisson
from modelcollapse.families.regression import Regression

#: family name -> (class, {parameter name accepted from users -> constructor argument})
FAMILIES: dict[str, tuple[type[Family], dict[str, str]]] = {
    "bernoulli": (Bernoulli, {"p": "p"}),
    "poisson": (Poisson, {"lambda": "lam", "lam": "lam"}),
    "categorical": (Categorical, {"p": "p", "counts": "counts", "symbols": "symbols"}),
    "gaussian": (Gaussian, {"mu": "mu", "sigma": "sigma"}),
    "mixture2": (Mixture2, {"mu": "mu", "sigma": "sigma", "eta": "eta"}),
    "gmm": (
        GMM,
        {
            "weights": "weights",
            "means": "means",
            "covs": "covs",
            "stds": "stds",
            "max_iter": "max_iter",
            "tol": "tol",
            "reg_covar": "reg_covar",
            "init": "init",
        },
    ),
    "mvgaussian": (MVGaussian, {"mean": "mean", "cov": "cov"}),
    "regression": (
        Regression,
        {
            "d": "d",
            "sigma": "sigma",
            "w0": "w0",
            "design": "design",
            "penalty": "penalty",
            "design_seed": "design_seed",
        },
    ),
}


def register_family(name: str, cls: type[Family], params: Mapping[str, str]) -> None:
    """Make a family available by name to ``simulate``, configs and the command line."""
    FAMILIES[name] = (cls, dict(params))


def make_family(
    name: str,
    params: Mapping[str, Any] | None = None,
    *,
    estimator: str | None = None,
    eps: Sequence[float] = (),
) -> Family:
    """Build family ``name`` from user-facing parameter names; every problem is a ConfigError."""
    if name not in FAMILIES:
        raise ConfigError("family", name, f"one of: {', '.join(sorted(FAMILIES))}")
    cls, accepted = FAMILIES[name]
    kwargs: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if key not in accepted:
            allowed = sorted(k for k in accepted if k != "lam")
            raise ConfigError("param", key, f"{name} parameters are: {', '.join(allowed)}")
        kwargs[accepted[key]] = value
    if estimator is not None:
        kwargs["estimator"] = estimator
    if eps:
        if "eps" not in {f for f in cls.__dataclass_fields__}:
            raise ConfigError(
                "eps", list(eps), f"thresholds apply to families with a scale, not {name}"
            )
        kwargs["eps"] = tuple(eps)
    return cls(**kwargs)


__all__ = [
    "FAMILIES",
    "Bernoulli",
    "Categorical",
    "Family",
    "GMM",
    "Gaussian",
    "MVGaussian",
    "Mixture2",
    "Observable",
    "Poisson",
    "Regression",
    "make_family",
    "register_family",
]
