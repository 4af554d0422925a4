"""The paper's experiments (and a few beyond it), registered by id in ``REGISTRY``.

Importing this package imports every experiment module, so that each registers itself.
"""

from __future__ import annotations

from modelcollapse.experiments import (  # noqa: F401  (imported to register)
    bern_bounds,
    bern_seddik,
    gauss_collapse,
    gmm_experiments,
    neural_lm,
    ngram_collapse,
    poisson_survival,
    sampling,
    scaling,
    text_unigram,
    trajectories,
    workflows_compare,
)
from modelcollapse.experiments.base import REGISTRY, Context, Experiment, Outcome

#: The paper's order (SPEC.md section 5), then the experiments beyond it.
ORDER = [
    "fig2a",
    "fig2b",
    "bern-bounds-a",
    "bern-bounds-b",
    "bern-seddik-a",
    "bern-seddik-b",
    "poisson",
    "gauss-collapse",
    "unigram-wikitext",
    "zipf",
    "gmm-scatter",
    "gmm-collapse",
    "ngram",
    "forget-linear",
    "sigma-scaling",
    "workflows",
    "regression-replace-accumulate",
    "temperature",
    "curation",
    "neural-lm",
]
_ordered = {i: REGISTRY[i] for i in ORDER if i in REGISTRY}
_ordered.update({i: e for i, e in REGISTRY.items() if i not in _ordered})
REGISTRY.clear()
REGISTRY.update(_ordered)

__all__ = ["REGISTRY", "Context", "Experiment", "Outcome"]
