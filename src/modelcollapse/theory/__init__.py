"""Theory of recursive training: every bound of Suresh et al. (AISTATS 2025), the baselines it
compares with, exact answers (no Monte Carlo) and calculators.

This package imports nothing from the simulation side; theory and simulation meet only in
``modelcollapse.experiments`` and in the tests. All functions validate their inputs and raise
:class:`modelcollapse.errors.ConfigError` on invalid values.
"""

from __future__ import annotations

from modelcollapse.theory._common import Bounds
from modelcollapse.theory.bernoulli import (
    MATRIX_MAX_N,
    TRUNCATED_MAX_STATES,
    AbsorptionTimes,
    absorption_times,
    bernoulli_segregating,
    bernoulli_survival,
    binomial_chain_segregating,
    binomial_chain_survival,
    diffusion_absorption_times,
    diffusion_survival,
    fixation_probability,
    seddik_bounds,
    theorem1_bounds,
    theorem1_extension_bounds,
    transition_matrix,
)
from modelcollapse.theory.calculators import (
    FORGET_EXACT_BUDGET,
    ForgettingGeneration,
    VocabularyLeft,
    forgetting_generation,
    forgetting_generation_bracket,
    forgetting_generation_branching,
    gaussian_collapse_generation,
    median_forgetting_curve,
    vocabulary_left,
)
from modelcollapse.theory.categorical import (
    corollary1_bounds,
    expected_gini_simpson,
    expected_unique,
    expected_unique_fraction,
    grouped_start,
)
from modelcollapse.theory.gaussian import (
    bertrand_bound,
    best_moment_bound,
    divisor,
    expected_log_variance,
    expected_sigma,
    expected_variance,
    log_variance_drift,
    moment_bound,
    sigma_cdf,
    sigma_quantile,
    sigma_tail,
    theorem3_bound,
    variance_log_variance,
)
from modelcollapse.theory.iterated import branching_extinction, g, g_k
from modelcollapse.theory.mixture import theorem4_bound
from modelcollapse.theory.poisson import branching_survival, theorem2_survival
from modelcollapse.theory.regression import (
    regression_accumulate_limit,
    regression_error_given_design,
    regression_test_error,
    ridge_test_error_fixed,
)
from modelcollapse.theory.sampling import (
    temperature_limit,
    temperature_unique_first,
    temperature_unique_second,
    tempered,
    truncation_expected_log_variance,
    truncation_expected_variance,
    truncation_log_variance_drift,
    truncation_mean_shift,
)

__all__ = [
    "MATRIX_MAX_N",
    "TRUNCATED_MAX_STATES",
    "AbsorptionTimes",
    "Bounds",
    "VocabularyLeft",
    "absorption_times",
    "bernoulli_segregating",
    "bernoulli_survival",
    "bertrand_bound",
    "best_moment_bound",
    "binomial_chain_segregating",
    "binomial_chain_survival",
    "branching_extinction",
    "branching_survival",
    "corollary1_bounds",
    "diffusion_absorption_times",
    "diffusion_survival",
    "divisor",
    "expected_gini_simpson",
    "expected_log_variance",
    "expected_sigma",
    "expected_unique",
    "expected_unique_fraction",
    "expected_variance",
    "fixation_probability",
    "FORGET_EXACT_BUDGET",
    "ForgettingGeneration",
    "forgetting_generation",
    "forgetting_generation_bracket",
    "forgetting_generation_branching",
    "median_forgetting_curve",
    "g",
    "g_k",
    "gaussian_collapse_generation",
    "grouped_start",
    "log_variance_drift",
    "moment_bound",
    "seddik_bounds",
    "sigma_cdf",
    "sigma_quantile",
    "sigma_tail",
    "theorem1_bounds",
    "theorem1_extension_bounds",
    "theorem2_survival",
    "theorem3_bound",
    "theorem4_bound",
    "transition_matrix",
    "variance_log_variance",
    "vocabulary_left",
    "regression_accumulate_limit",
    "regression_error_given_design",
    "regression_test_error",
    "ridge_test_error_fixed",
    "tempered",
    "temperature_limit",
    "temperature_unique_first",
    "temperature_unique_second",
    "truncation_expected_log_variance",
    "truncation_expected_variance",
    "truncation_log_variance_drift",
    "truncation_mean_shift",
]
