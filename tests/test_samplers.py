"""The sampler stage: stage validation, the transformed laws, identity stages bit for bit, exact
path against sampled path for every law stage, curation on the sample path, the n-gram sampler.

Statistical tests follow conftest's rule: a fixed seed, a total false-failure rate <= 1e-4 per
test split over its comparisons (Bonferroni), and a sample size chosen so a real bug (a wrong
exponent, a stage applied twice or not at all) moves the statistic by many standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import integrate, stats

from modelcollapse import simulate
from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError
from modelcollapse.families.categorical import Categorical
from modelcollapse.families.gaussian import Gaussian
from modelcollapse.families.ngram import fit_ngram
from modelcollapse.models.ngram import NGramFamily, SampledNGram
from modelcollapse.samplers import (
    Curation,
    Sampler,
    Temperature,
    TopK,
    TopP,
    Truncation,
    Verifier,
    curate,
    resolve_sampler,
)
from modelcollapse.theory.sampling import (
    temperature_unique_second,
    truncation_expected_log_variance,
    truncation_mean_shift,
    unique_after_one,
)

from conftest import ALPHA, assert_z, z_bound

P = np.array([0.4, 0.25, 0.15, 0.1, 0.06, 0.03, 0.01])


# ---- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Temperature(0), "temperature"),
        (lambda: Temperature(-0.5), "temperature"),
        (lambda: Temperature(float("nan")), "temperature"),
        (lambda: Temperature(float("inf")), "temperature"),
        (lambda: TopK(0), "top_k"),
        (lambda: TopK(2.5), "top_k"),
        (lambda: TopP(0.0), "top_p"),
        (lambda: TopP(1.01), "top_p"),
        (lambda: TopP(float("nan")), "top_p"),
        (lambda: Truncation(0.0), "truncation"),
        (lambda: Curation(abs, fraction=0.0), "curation fraction"),
        (lambda: Curation(abs, fraction=1.5), "curation fraction"),
        (lambda: Curation(abs), "curation"),
        (lambda: Curation(abs, fraction=0.5, threshold=1.0), "curation"),
        (lambda: Verifier(0.0), "verifier tol"),
        (lambda: resolve_sampler({"temprature": 0.5}), "sampler"),
        (lambda: Sampler((Curation(abs, fraction=0.5), Temperature(0.5))), "sampler"),
    ],
)
def test_bad_stages_are_rejected(make, field):
    with pytest.raises(ConfigError, match=f"invalid {field}:"):
        make()


def test_a_stage_the_family_cannot_apply_is_rejected_before_work():
    with pytest.raises(ConfigError, match="invalid sampler: 'temperature'"):
        simulate("gaussian", n=10, generations=2, trials=2, seed=0, sampler=Temperature(0.5))
    with pytest.raises(ConfigError, match="invalid sampler: 'truncation'"):
        simulate("categorical", params={"p": [0.5, 0.5]}, n=10, generations=2, trials=2, seed=0,
                 sampler=Truncation(0.5))
    with pytest.raises(ConfigError, match="verifier"):
        simulate("gaussian", n=10, generations=2, trials=2, seed=0, sampler=Verifier(0.5))
    with pytest.raises(ConfigError, match="invalid method"):
        simulate("gaussian", n=10, generations=2, trials=2, seed=0, method="exact",
                 sampler=Curation(abs, fraction=0.5))


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--temperature", "0", "temperature"),
        ("--temperature", "nan", "temperature"),
        ("--top-k", "0", "top_k"),
        ("--top-p", "1.5", "top_p"),
        ("--top-p", "0", "top_p"),
    ],
)
def test_cli_rejects_bad_sampler_values(tmp_path, option, value, field):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli,
        ["simulate", "--family", "categorical", "--param", "p=0.5,0.5", "--n", "10",
         "--generations", "2", "--trials", "3", "--seed", "1", option, value, "--out", str(out)],
    )
    assert result.exit_code == 2, result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith(f"Error: invalid {field}:"), message
    assert message.endswith(")"), "the message says what is allowed"
    assert list(tmp_path.iterdir()) == []


# ---- the transformed laws -------------------------------------------------------------------------
def test_law_stages_match_their_definitions():
    # Independent of the implementation: powers, sorting by hand.
    for t in (0.5, 0.9, 2.0):
        q = P ** (1 / t)
        np.testing.assert_allclose(Temperature(t).probabilities(P[None])[0], q / q.sum(),
                                   rtol=1e-12)
    top3 = np.where(np.isin(np.arange(P.size), [0, 1, 2]), P, 0.0)
    np.testing.assert_allclose(TopK(3).probabilities(P[None])[0], top3 / top3.sum(), rtol=1e-12)
    # Nucleus 0.8: 0.4 + 0.25 + 0.15 = 0.8 reaches it, so the fourth symbol is not needed; at
    # 0.81 it is.
    for p, kept in ((0.8, 3), (0.81, 4), (1e-6, 1)):
        want = np.where(np.arange(P.size) < kept, P, 0.0)
        np.testing.assert_allclose(TopP(p).probabilities(P[None])[0], want / want.sum(),
                                   rtol=1e-12)
    # Rare symbols at a low temperature: computed in log space, a valid law, never NaN.
    tiny = np.array([1 - 1e-12, 1e-12, 0.0])
    q = Temperature(0.01).probabilities(tiny[None])[0]
    assert np.isfinite(q).all() and q.sum() == pytest.approx(1.0) and q[2] == 0.0


def test_segment_probabilities_equal_row_by_row():
    rng = np.random.default_rng(11)
    sizes = rng.integers(1, 9, size=200)
    laws = [rng.dirichlet(np.ones(s)) * (rng.random(s) > 0.2) + 1e-300 for s in sizes]
    laws = [law / law.sum() for law in laws]
    flat = np.concatenate(laws)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    for stages in [(Temperature(0.6),), (TopK(2),), (TopP(0.7),),
                   (Temperature(1.7), TopK(3), TopP(0.9))]:
        s = Sampler(stages)
        got = s.segment_probabilities(flat, starts)
        want = np.concatenate([s.probabilities(law[None])[0] for law in laws])
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)


def test_identity_stages_are_dropped():
    assert resolve_sampler([Temperature(1.0), TopP(1.0), Truncation(1.0)]) is None
    assert resolve_sampler({"temperature": 1, "top_p": 1}) is None


# ---- temperature 1 and top-p 1 reproduce today's numbers bit for bit ------------------------------
@pytest.mark.parametrize("method", ["exact", "naive"])
def test_identity_sampler_is_bit_for_bit(method):
    kw = {"n": 30, "generations": 6, "trials": 300, "seed": 5, "method": method}
    base = simulate("categorical", params={"p": P.tolist()}, **kw)
    same = simulate("categorical", params={"p": P.tolist()}, sampler=[Temperature(1), TopP(1)],
                    **kw)
    assert base.summary.equals(same.summary)
    g0 = simulate("gaussian", **kw)
    g1 = simulate("gaussian", sampler=Truncation(1.0), **kw)
    assert g0.summary.equals(g1.summary)
    a0 = simulate("categorical", params={"p": P.tolist()}, workflow="accumulate", **kw)
    a1 = simulate("categorical", params={"p": P.tolist()}, workflow="accumulate",
                  sampler={"temperature": 1.0}, **kw)
    assert a0.summary.equals(a1.summary)


def test_identity_sampler_is_bit_for_bit_for_ngrams():
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, 40, size=3000)
    fam = NGramFamily(tokens=tokens, order=2)
    kw = {"n": fam.n_tokens, "generations": 3, "trials": 2, "seed": 9}
    assert simulate(fam, **kw).summary.equals(
        simulate(fam, sampler=[Temperature(1.0), TopP(1.0)], **kw).summary
    )


# ---- exact path against sampled path -----------------------------------------------------------
@pytest.mark.parametrize(
    "stages", [(Temperature(0.7),), (TopK(4),), (TopP(0.9),), (Temperature(1.5), TopP(0.95))]
)
def test_categorical_stage_exact_vs_naive(stages):
    # Seed 21. Both paths against the exact first-generation law (mean count n q_i, variance
    # n q_i (1 - q_i)) and against each other at generation 4 (mean entropy and Gini-Simpson,
    # two-sample z). 6000 trials: the standard error of a mean count is <= 0.065 with n = 40,
    # while a stage skipped or applied twice moves some n q_i by >= 0.8.
    n, trials, sampler = 40, 6000, Sampler(stages)
    q = sampler.probabilities(P[None])[0]
    comparisons = 2 * P.size + 2 * 2
    bound = z_bound(comparisons)
    runs = {}
    for method in ("exact", "naive"):
        runs[method] = simulate(
            "categorical", params={"p": P.tolist()}, n=n, generations=4, trials=trials,
            seed=21, method=method, sampler=sampler,
            metrics=["entropy_mean", "gini_simpson_mean"],
        )
        fam = Categorical(p=P).with_sampler(sampler)
        counts = fam.step(fam.initial_state(trials), n, np.random.default_rng(23), method)
        se = np.sqrt(n * q * (1 - q) / trials)
        live = q > 0
        z = np.abs(counts.mean(axis=0) - n * q)[live] / se[live]
        assert np.all(z <= bound), (method, z.max())
        assert np.all(counts[:, ~live] == 0), "a symbol the stage removed was drawn"
    for metric in ("entropy_mean", "gini_simpson_mean"):
        _, ve, se = runs["exact"].metric(metric)
        _, vn, sn = runs["naive"].metric(metric)
        z = abs(ve[-1] - vn[-1]) / math.hypot(se[-1], sn[-1])
        assert z <= bound, (metric, z)


def test_temperature_first_two_generations_against_theory():
    # Seed 4. Generation 1 trains on real data: E[symbols alive] = sum 1 - (1 - p_i)^n whatever
    # the temperature; generation 2 is the first tempered one, exact by the sum over generation
    # 1's compositions (theory.temperature_unique_second). 20000 trials: stderr ~ 0.006
    # symbols, while tempering generation 1 (or not tempering generation 2) moves a value by
    # >= 0.3 at T = 0.5 and 2.
    for t in (0.5, 2.0):
        r = simulate("categorical", params={"p": P.tolist()}, n=20, generations=2, trials=20000,
                     seed=4, sampler=Temperature(t), metrics=["uniq_mean"])
        _, v, se = r.metric("uniq_mean")
        assert_z(v[1:], [unique_after_one(P, 20), temperature_unique_second(P, 20, t)], se[1:],
                 4, f"T={t}")


def test_gaussian_truncation_exact_vs_naive_and_theory():
    # Seed 8. Against the exact E[log Sigma_k^2] (drift 2 ln psi + E log(chi2_{n-1}/d)) and
    # E[(M_k - mu0)^2] for k = 1..4, on both paths: 8 comparisons per path. 20000 trials give a
    # standard error of 0.004 k^(1/2) on the mean log variance, while psi = 0.8 changes it by
    # 0.45 per generation.
    n, psi, ks = 10, 0.8, np.arange(5)
    for method in ("exact", "naive"):
        r = simulate("gaussian", n=n, generations=4, trials=20000, seed=8, method=method,
                     sampler=Truncation(psi), metrics=["log_sigma2_mean", "mean_shift_sq_mean"])
        _, lv, lse = r.metric("log_sigma2_mean")
        _, ms, mse = r.metric("mean_shift_sq_mean")
        exact_lv = truncation_expected_log_variance(1.0, n, ks, psi)
        exact_ms = truncation_mean_shift(1.0, n, ks, psi)
        assert_z(lv[1:], exact_lv[1:], lse[1:], 16, f"{method} log variance")
        assert_z(ms[1:], exact_ms[1:], mse[1:], 16, f"{method} mean shift")


def test_truncation_pools_under_accumulate_match_the_sample_path():
    # Seed 30. The accumulate workflow on pools (exact) and on raw samples (a curation that keeps
    # every candidate forces the sample path): the same law, compared by a two-sample z on the
    # mean squared mean error and mean log variance at generation 5 (4 comparisons). 8000 trials.
    kw = {"n": 10, "generations": 5, "trials": 8000, "workflow": "accumulate",
          "metrics": ["log_sigma2_mean", "mean_shift_sq_mean"]}
    pools = simulate("gaussian", seed=30, sampler=Truncation(0.7), **kw)
    raw = simulate("gaussian", seed=31, sampler=[Truncation(0.7), Curation(lambda x: x * 0,
                                                                           fraction=1.0)], **kw)
    for metric in ("log_sigma2_mean", "mean_shift_sq_mean"):
        _, a, sa = pools.metric(metric)
        _, b, sb = raw.metric(metric)
        z = abs(a[-1] - b[-1]) / math.hypot(sa[-1], sb[-1])
        assert z <= z_bound(2), (metric, z)


# ---- curation ------------------------------------------------------------------------------
def test_curate_fraction_keeps_the_best_in_drawn_order():
    data = np.array([[[3.0], [1.0], [4.0], [1.5], [5.0], [9.0], [2.0], [6.0]]])
    kept = curate(lambda m: data[:, :m], 4, Curation(lambda x: x[..., 0], fraction=0.5))
    np.testing.assert_array_equal(kept[0, :, 0], [4.0, 5.0, 9.0, 6.0])
    same = curate(lambda m: data[:, :m], 8, Curation(lambda x: x[..., 0], fraction=1.0))
    np.testing.assert_array_equal(same, data)


def test_curate_threshold_draws_until_enough_pass():
    rng = np.random.default_rng(0)
    kept = curate(lambda m: rng.standard_normal((50, m)), 30, Curation(lambda x: x, threshold=1.0))
    assert kept.shape == (50, 30) and np.all(kept >= 1.0)
    with pytest.raises(RuntimeError, match="passed"):
        curate(lambda m: np.zeros((2, m)), 3, Curation(lambda x: x, threshold=1.0))


def _one_curated_step(stage, n: int, trials: int, seed: int):
    """One generation from the known model N(0, 1) through ``stage``: the fitted (mu, sigma^2).

    In a run generation 1 trains on real data, so the stage's law is checked on one step of the
    family itself, from a known state (as the categorical stages are above).
    """
    fam = Gaussian().with_sampler(stage)
    state = fam.step(fam.initial_state(trials), n, np.random.default_rng(seed), "naive")
    return state.mu, np.exp(state.log_sigma2)


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(x.size))


def test_threshold_curation_has_the_conditioned_law():
    # Seed 12. Keeping x >= 0 from N(0, 1) leaves a half-normal sample: the fitted mean has
    # E = sqrt(2/pi) and the variance (unbiased) E = 1 - 2/pi, exactly. 4000 trials of n = 20:
    # standard errors 0.0019 and 0.0012, a filter that keeps the wrong side or everything moves
    # the mean by >= 0.8.
    mu, s2 = _one_curated_step(Curation(lambda x: x, threshold=0.0), 20, 4000, 12)
    (m, mse), (v, vse) = _mean_se(mu), _mean_se(s2)
    assert_z(m, math.sqrt(2 / math.pi), mse, 2, "half-normal mean")
    assert_z(v, 1 - 2 / math.pi, vse, 2, "half-normal variance")


def test_fraction_curation_matches_order_statistics():
    # Seed 13. Keeping the 10 largest of 20 standard normals: the fitted mean's expectation is
    # the mean of the top half of the order statistics, computed here by numerical integration
    # of the order-statistic densities (independent of the sampler). 4000 trials.
    n, m = 10, 20

    def order_mean(r):  # E of the r-th smallest of m standard normals
        def dens(x):
            return x * stats.beta.pdf(stats.norm.cdf(x), r, m - r + 1) * stats.norm.pdf(x)

        return integrate.quad(dens, -10, 10)[0]

    want = np.mean([order_mean(r) for r in range(m - n + 1, m + 1)])
    mu, _ = _one_curated_step(Curation(lambda x: x, fraction=0.5), n, 4000, 13)
    m, se = _mean_se(mu)
    assert_z(m, want, se, 1, "top-half mean")


def test_per_trial_models_apply_curation_to_generated_data():
    rng = np.random.default_rng(2)
    tokens = rng.integers(0, 30, size=2000)
    fam = NGramFamily(tokens=tokens, order=2).with_sampler(
        Curation(lambda t: (t < 10).astype(float), threshold=1.0)
    )
    state = fam.initial_state(1)
    data = fam.draw(state, 500, np.random.default_rng(1))
    assert data.shape == (500,) and np.all(data < 10)


# ---- the n-gram sampler ---------------------------------------------------------------------
def test_ngram_tempered_next_token_law():
    # Seed 40. The next token after one context, drawn 100000 times, against the context's
    # transformed conditional law (chi-square goodness of fit per stage, alpha split over 4).
    rng = np.random.default_rng(40)
    weights = np.r_[np.full(8, 6.0), np.ones(30)]
    tokens = rng.choice(38, size=8000, p=weights / weights.sum())
    model = fit_ngram(tokens, 2)
    h = model.context_index([int(tokens[0])])
    nxt, p = model.conditional(h)
    stages = [(Temperature(0.5),), (TopK(3),), (TopP(0.6),), (Temperature(2.0), TopP(0.9))]
    for st in stages:
        s = Sampler(st)
        q = s.probabilities(p[None])[0]
        draws, _ = SampledNGram(model, s).sample_next(np.full(100_000, h), rng)
        observed = np.array([(draws == t).sum() for t in nxt])
        assert observed.sum() == draws.size, "only continuations of the context are drawn"
        live = q > 0
        assert np.all(observed[~live] == 0)
        chi2 = stats.chisquare(observed[live], 100_000 * q[live])
        assert chi2.pvalue > ALPHA / len(stages), (st, chi2)


@pytest.mark.parametrize("name", ["regression-verifier", "categorical-temperature"])
def test_example_configs_run(tmp_path, name):
    from pathlib import Path

    cfg = Path(__file__).resolve().parents[1] / "docs" / "configs" / f"{name}.toml"
    result = CliRunner().invoke(cli, ["run", str(cfg), "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    import json

    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "sampler" in json.dumps(run)


# ---- real data never passes through the sampler ------------------------------------------------
_STAGES = {
    "categorical": [Temperature(0.5), TopK(3), TopP(0.8)],
    "gaussian": [Truncation(0.7), Curation(lambda x: -np.abs(x), fraction=0.5)],
}


@pytest.mark.parametrize(
    ("family", "stage"), [(f, s) for f, stages in _STAGES.items() for s in stages]
)
def test_generation_one_trains_on_real_data(family, stage):
    # Generation 1's data is drawn from the generation-0 (real) model as it is, so a run of one
    # generation is bit for bit the run without a sampler, on the same stream; and under mix with
    # real_fraction = 1 every generation trains on fresh real data, so the whole run is.
    # (A curated family runs on the sample path: compared with the plain naive run.)
    params = {"p": P.tolist()} if family == "categorical" else None
    method = "naive" if isinstance(stage, Curation) else None
    kw = {"params": params, "n": 30, "trials": 50, "seed": 12, "method": method}
    plain = simulate(family, generations=1, **kw)
    assert simulate(family, generations=1, sampler=stage, **kw).summary.equals(plain.summary)
    if isinstance(stage, Curation):
        return  # the mix workflows of a curated family keep samples, the plain family pools
    mix = {"generations": 4, "workflow": "mix", "real_fraction": 1.0, **kw}
    assert simulate(family, sampler=stage, **mix).summary.equals(simulate(family, **mix).summary)
    # ...and the sampler does act from generation 2 on.
    four = {"generations": 4, **kw}
    assert not simulate(family, sampler=stage, **four).summary.equals(
        simulate(family, **four).summary
    )


def test_plugin_source_is_not_curated():
    # A plug-in's generation 1 fits the source's draws, not a curated subset of them: with a
    # curation filter its first generation is bit for bit the plain one.
    from sklearn.mixture import GaussianMixture

    from modelcollapse.models.plugin import PluginModel

    model = PluginModel(model=GaussianMixture(n_components=1), source="gaussian")
    kw = {"n": 40, "trials": 4, "seed": 3, "executor": "threads"}
    curation = Curation(lambda x: -np.abs(x).sum(axis=-1), fraction=0.5)
    plain = simulate(model, generations=1, **kw)
    assert simulate(model, generations=1, sampler=curation, **kw).summary.equals(plain.summary)
    assert not simulate(model, generations=2, sampler=curation, **kw).summary.equals(
        simulate(model, generations=2, **kw).summary
    )


def test_text_models_temper_generation_one():
    # The n-gram's generation 0 is the model fitted to the corpus, so generation 1's data is
    # already synthetic: the sampler applies to it (as to a network trained on the corpus).
    rng = np.random.default_rng(3)
    fam = NGramFamily(tokens=rng.integers(0, 40, size=3000), order=2)
    kw = {"n": fam.n_tokens, "generations": 1, "trials": 1, "seed": 9}
    assert not simulate(fam, sampler=Temperature(0.5), **kw).summary.equals(
        simulate(fam, **kw).summary
    )
