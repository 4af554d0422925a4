"""Adapters: scikit-learn estimators (and anything with ``fit`` and ``sample``) as plug-ins.

``SklearnPlugin(estimator)`` follows scikit-learn's own conventions: the estimator passed in is a
template that is never fitted; every generation fits a fresh ``sklearn.base.clone`` of it (a
deep copy for objects that are not scikit-learn estimators). Randomness comes from the trial's
generator: an integer drawn from it becomes the clone's ``random_state`` (when it has one, e.g.
GaussianMixture's initialisation) and the ``random_state`` of ``sample``. The fitted estimator's
``score_samples`` (a per-point log-density) gives the held-out log-likelihood metric.

Shipped constructors (usable as ``--model modelcollapse.models.sklearn:kernel_density``):

- :func:`kernel_density`: ``sklearn.neighbors.KernelDensity`` (Gaussian kernel by default;
  note that scikit-learn's ``bandwidth="scott"`` is n^(-1/(d+4)), *not* scaled by the data's
  spread; for the data-scaled rule use ``modelcollapse.models.kde.GaussianKDE``);
- :func:`gaussian_mixture`: ``sklearn.mixture.GaussianMixture``.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError

#: Seeds handed to estimators are drawn below this bound (numpy's legacy RandomState limit).
_SEED_BOUND = 2**32


def _clone(estimator: Any) -> Any:
    try:
        from sklearn.base import BaseEstimator, clone
    except ImportError:  # pragma: no cover - scikit-learn is an optional extra
        return copy.deepcopy(estimator)
    if isinstance(estimator, BaseEstimator):
        return clone(estimator)
    return copy.deepcopy(estimator)


class SklearnPlugin:
    """A plug-in around an estimator with ``fit(X)`` and ``sample(n)``."""

    def __init__(self, estimator: Any):
        if not (hasattr(estimator, "fit") and hasattr(estimator, "sample")):
            raise ConfigError(
                "model", type(estimator).__name__, "an estimator with fit(X) and sample(n)"
            )
        self.estimator = estimator
        params = getattr(estimator, "get_params", None)
        self._seeded = callable(params) and "random_state" in params(deep=False)
        try:
            self._sample_seed = "random_state" in inspect.signature(estimator.sample).parameters
        except (TypeError, ValueError):
            self._sample_seed = False

    def fit(self, data: np.ndarray, rng: np.random.Generator) -> Any:
        est = _clone(self.estimator)
        if self._seeded:
            est.set_params(random_state=int(rng.integers(_SEED_BOUND)))
        est.fit(data)
        return est

    def sample(self, fitted: Any, n: int, rng: np.random.Generator) -> np.ndarray:
        seed = int(rng.integers(_SEED_BOUND))
        if self._sample_seed:
            out = fitted.sample(n, random_state=seed)
        else:
            if self._seeded:
                fitted.set_params(random_state=seed)  # GaussianMixture samples from its own
            out = fitted.sample(n)
        if isinstance(out, tuple):  # GaussianMixture returns (X, component labels)
            out = out[0]
        return out

    def log_prob(self, fitted: Any, data: np.ndarray) -> np.ndarray:
        if not hasattr(fitted, "score_samples"):
            raise AttributeError("score_samples")
        return fitted.score_samples(data)

    @property
    def has_log_prob(self) -> bool:
        return hasattr(self.estimator, "score_samples")

    def describe(self) -> str:
        return repr(self.estimator)


def kernel_density(**params: Any) -> SklearnPlugin:
    """scikit-learn's KernelDensity (``bandwidth``, ``kernel``, ...) as a plug-in."""
    from sklearn.neighbors import KernelDensity

    return SklearnPlugin(KernelDensity(**params))


def gaussian_mixture(**params: Any) -> SklearnPlugin:
    """scikit-learn's GaussianMixture (``n_components``, ``covariance_type``, ...) as a plug-in."""
    from sklearn.mixture import GaussianMixture

    return SklearnPlugin(GaussianMixture(**params))
