"""The one generation loop: seeding policy, observers, hitting times and early stop.

Statistical tests here compare simulated hitting-time laws with exact ones computed in the test
from transition matrices (numpy and scipy only, not the theory module, so each side checks the
other). Each test fixes its seed and uses a Bonferroni-corrected two-sided z threshold for a
per-test false-failure rate of 1e-4; the sample sizes are chosen so that a wrong law (for
example an off-by-one in the generation at which a hit is recorded, which shifts Pr(T <= k) by
one generation's increment) moves z by far more than the threshold.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from modelcollapse import simulate
from modelcollapse.cli import COMMANDS, cli
from modelcollapse.engine import Observer, tidy
from modelcollapse.errors import ConfigError
from modelcollapse.seeding import block_generator, block_key, trial_generator, trial_key

ALPHA = 1e-4


def z_threshold(comparisons: int) -> float:
    return float(stats.norm.isf(ALPHA / (2 * comparisons)))


# ---- seeding -----------------------------------------------------------------------------


def test_block_and_trial_streams_are_disjoint_over_a_grid():
    keys, firsts = set(), set()
    for cell, index in itertools.product(range(6), range(60)):
        for key, gen in (
            (block_key(index, cell), block_generator(11, index, cell)),
            (trial_key(index, cell), trial_generator(11, index, cell)),
        ):
            keys.add(key)
            firsts.add(int(gen.integers(0, 2**63)))
    assert len(keys) == 2 * 6 * 60  # no spawn key is shared by two streams
    assert len(firsts) == 2 * 6 * 60  # nor any first draw


def test_seed_sequence_is_accepted_and_equals_its_integer_seed():
    kw = dict(params={"p": 0.3}, n=40, generations=6, trials=5000)
    a = simulate("bernoulli", seed=5, **kw)
    b = simulate("bernoulli", seed=np.random.SeedSequence(5), **kw)
    np.testing.assert_array_equal(a.summary["value"], b.summary["value"])
    # A spawned child has its own streams.
    child = np.random.SeedSequence(5).spawn(1)[0]
    c = simulate("bernoulli", seed=child, **kw)
    assert not np.array_equal(a.summary["value"], c.summary["value"])
    for bad in (-1, 1.5, "7", True):
        with pytest.raises(ConfigError, match="seed"):
            simulate("bernoulli", seed=bad, **kw)


# ---- observers -----------------------------------------------------------------------------


class AboveHalf(Observer):
    """A user's observer: the share of trials with P_k > 1/2 at each recorded generation."""

    def start(self, run, block):
        return {}

    def observe(self, acc, generation, state, share):
        acc[generation] = (int(np.count_nonzero(state > 0.5)), state.size)

    def setup(self, run):
        self.counts = {}

    def fold(self, run, acc):
        for g, (hits, size) in acc.items():
            h, s = self.counts.get(g, (0, 0))
            self.counts[g] = (h + hits, s + size)

    def metric_names(self, family):
        return ("above_half",)

    def rows(self, run):
        gens = sorted(self.counts)
        p = np.array([self.counts[g][0] / self.counts[g][1] for g in gens])
        return tidy(gens, "above_half", p, np.sqrt(p * (1 - p) / run.trials))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_user_observer_sees_every_trial_and_joins_the_summary(workers):
    obs = AboveHalf()
    r = simulate("bernoulli", params={"p": 0.5}, n=30, generations=8, trials=9000, seed=2,
                 trajectories=True, observers=[obs], workers=workers)
    traj = r.trajectories
    gens, values, _ = r.metric("above_half")
    assert list(gens) == list(range(9))
    for g, v in zip(gens, values, strict=True):
        expected = np.mean(traj["p"].to_numpy()[traj["generation"].to_numpy() == g] > 0.5)
        assert v == expected
    assert r.observers[-1] is obs
    # The user's metric can be selected like any other.
    only = simulate("bernoulli", params={"p": 0.5}, n=30, generations=8, trials=900, seed=2,
                    observers=[AboveHalf()], metrics=["above_half"])
    assert set(only.summary["metric"]) == {"above_half"}


# ---- hitting times against exact laws --------------------------------------------------------


def binomial_matrix(n: int) -> np.ndarray:
    i = np.arange(n + 1)
    return stats.binom.pmf(i[None, :], n, i[:, None] / n)


def test_bernoulli_absorption_time_law_is_the_binomial_chains():
    # n = 30, c = 6: Pr(T <= k) = (M^k)[c, 0] + (M^k)[c, n]; E[T] from the fundamental matrix.
    n, c, trials, seed = 30, 6, 20_000, 31
    m = binomial_matrix(n)
    r = simulate("bernoulli", params={"p": c / n}, n=n, generations=4000, trials=trials,
                 seed=seed, until="collapse")
    assert r.generations_run < 4000  # every trial was absorbed: the run stopped by itself
    gens, reached, se = r.metric("reached[fixation]")
    row = np.zeros(n + 1)
    row[c] = 1.0
    exact = []
    for _ in range(gens.max() + 1):
        exact.append(row[0] + row[n])
        row = row @ m
    exact = np.asarray(exact)[gens]
    ks = [5, 10, 20, 40, 80]
    z = z_threshold(len(ks) + 1)
    for k in ks:
        p = exact[k]
        sd = math.sqrt(p * (1 - p) / trials)
        assert abs(reached[k] - p) < z * sd, (k, reached[k], p)
    q = m[1:n, 1:n]
    t_exact = np.linalg.solve(np.eye(n - 1) - q, np.ones(n - 1))[c - 1]
    mean = r.value("time_to[fixation]_mean")
    mean_se = r.metric("time_to[fixation]_mean")[2][-1]
    assert abs(mean - t_exact) < z * mean_se, (mean, t_exact, mean_se)


def test_poisson_extinction_time_is_theorem_2():
    # Pr(T <= k) = exp(-n lambda_0 g_k) exactly (Theorem 2), g_1 = 1, g_{k+1} = 1 - exp(-g_k).
    n, lam, trials, seed = 10, 0.3, 20_000, 7
    r = simulate("poisson", params={"lambda": lam}, n=n, generations=200, trials=trials,
                 seed=seed)
    gens, reached, _ = r.metric("reached[extinction]")
    g = [math.inf]
    for _ in range(200):
        g.append(1 - math.exp(-g[-1]) if math.isfinite(g[-1]) else 1.0)
    ks = [1, 2, 5, 20, 100, 200]
    z = z_threshold(len(ks) + 1)
    for k in ks:
        p = math.exp(-n * lam * g[k])
        assert abs(reached[k] - p) < z * math.sqrt(p * (1 - p) / trials), (k, reached[k], p)
    # The median: the smallest k with Pr(T <= k) >= 1/2.
    exact_median = next(k for k in range(1, 201) if math.exp(-n * lam * g[k]) >= 0.5)
    median = r.value("time_to[extinction]_median")
    half = r.metric("time_to[extinction]_median")[2][-1]
    assert abs(median - exact_median) <= max(2 * z * half, 1), (median, exact_median)
    # The mean of a critical branching extinction time is infinite: with censored trials the
    # summary refuses to report one.
    assert math.isnan(r.value("time_to[extinction]_mean"))


def composition_chain(k: int, n: int) -> tuple[list[tuple[int, ...]], np.ndarray]:
    states = [s for s in itertools.product(range(n + 1), repeat=k) if sum(s) == n]
    index = {s: i for i, s in enumerate(states)}
    m = np.zeros((len(states), len(states)))
    for s in states:
        p = np.asarray(s) / n
        for t in states:
            m[index[s], index[t]] = stats.multinomial.pmf(t, n, p)
    return states, m


def test_k_allele_total_collapse_time_matches_the_composition_chain():
    # K = 3 symbols, n = 9, start (3, 3, 3): total collapse = one symbol holds all 9.
    k, n, trials, seed = 3, 9, 20_000, 13
    states, m = composition_chain(k, n)
    absorbing = np.array([np.count_nonzero(s) <= 1 for s in states])
    start = states.index((3, 3, 3))
    q = m[np.ix_(~absorbing, ~absorbing)]
    t = np.linalg.solve(np.eye(q.shape[0]) - q, np.ones(q.shape[0]))
    t_exact = t[np.flatnonzero(~absorbing).tolist().index(start)]
    r = simulate("categorical", params={"counts": [3, 3, 3]}, n=n, generations=10_000,
                 trials=trials, seed=seed, until="collapse")
    z = z_threshold(4)
    mean = r.value("time_to[total_collapse]_mean")
    se = r.metric("time_to[total_collapse]_mean")[2][-1]
    assert abs(mean - t_exact) < z * se, (mean, t_exact, se)
    gens, reached, _ = r.metric("reached[total_collapse]")
    row = np.zeros(len(states))
    row[start] = 1.0
    for g in range(1, 31):
        row = row @ m
        if g in (3, 10, 30):
            p = row[absorbing].sum()
            assert abs(reached[g] - p) < z * math.sqrt(p * (1 - p) / trials), (g, reached[g], p)


# ---- early stop ------------------------------------------------------------------------------


@pytest.mark.parametrize("family,params,n,eps", [
    ("bernoulli", {"p": 0.1}, 40, ()),
    ("gaussian", {"sigma": 1.0}, 5, (0.05,)),
])
def test_stopping_at_collapse_gives_the_full_horizons_numbers(family, params, n, eps):
    # 9,000 trials: three blocks that stop at different generations.
    kw = dict(params=params, n=n, trials=9000, seed=4, eps=eps, record_every=3)
    early = simulate(family, generations=100_000, until="collapse", **kw)
    last = early.generations_run
    assert 0 < last < 100_000
    full = simulate(family, generations=last, **kw)
    assert early.summary["generation"].max() == last
    for frame in (early.summary, full.summary):
        assert frame["generation"].max() == last
    pd_early = early.summary.set_index(["generation", "metric"])
    pd_full = full.summary.set_index(["generation", "metric"])
    assert pd_early.index.equals(pd_full.index)
    np.testing.assert_array_equal(pd_early["value"], pd_full["value"])
    np.testing.assert_array_equal(pd_early["stderr"], pd_full["stderr"])
    assert early.value(f"reached[{early.config['until']}]") == 1.0


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs,field", [
    (dict(family="bernoulli", params={"p": 0.2}, until="extinction"), "until"),
    (dict(family="gaussian", params={"sigma": 1.0}, until="collapse"), "until"),
    (dict(family="gaussian", params={"sigma": 1.0}, eps=(0.0,), until="collapse"), "eps"),
    (dict(family="gaussian", params={"sigma": 1.0}, observers=["nope"]), "observer"),
    (dict(family="gaussian", params={"sigma": 1.0}, observers=["forgetting"]), "observer"),
    (dict(family="gaussian", params={"sigma": 1.0}, observers=[object()]), "observers"),
    (dict(family="bernoulli", params={"p": 0.2}, metrics=["time_to[nothing]_mean"]), "metric"),
])
def test_bad_observers_and_stop_conditions_are_refused(kwargs, field):
    family = kwargs.pop("family")
    with pytest.raises(ConfigError) as err:
        simulate(family, n=10, generations=5, trials=10, seed=1, **kwargs)
    assert err.value.field == field


def test_cli_refuses_an_unreachable_stop_and_writes_nothing(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["simulate", "--family", "gaussian", "--param", "sigma=1",
                                   "--n", "10", "--generations", "5", "--trials", "10",
                                   "--seed", "1", "--until", "collapse", "--out", str(out)])
    assert res.exit_code == 2 and "invalid until" in res.output
    res = CliRunner().invoke(cli, ["simulate", "--family", "bernoulli", "--param", "p=0.5",
                                   "--n", "10", "--generations", "5", "--trials", "10",
                                   "--seed", "1", "--observer", "nope", "--out", str(out)])
    assert res.exit_code == 2 and "invalid observer" in res.output
    assert not out.exists()


def test_cli_until_and_forgetting_observer(tmp_path):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["simulate", "--family", "categorical",
                                   "--param", "counts=5,3,2", "--n", "10",
                                   "--generations", "10000", "--trials", "300", "--seed", "3",
                                   "--until", "collapse", "--observer", "forgetting",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "time_to[total_collapse]_mean" in res.output
    import pandas as pd

    words = pd.read_parquet(out / "words.parquet")
    assert list(words.columns) == ["word", "count", "trial", "forgotten_at"]
    # Run until total collapse: exactly two of the three symbols are lost in every trial.
    lost = words.groupby("trial")["forgotten_at"].count()
    assert (lost == 2).all()


# ---- start-up --------------------------------------------------------------------------------


def test_help_imports_no_numerical_library():
    code = (
        "import sys\n"
        "from modelcollapse.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'scipy', 'pandas', 'matplotlib', 'duckdb') "
        "if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout, out.stdout


def test_every_listed_command_resolves():
    import click

    for name in COMMANDS:
        assert isinstance(cli.get_command(None, name), click.Command), name


def test_vectorised_blocks_on_processes_give_the_threads_numbers():
    # Blocks are folded in block order whatever runs them: 3 blocks of 4,096 trials.
    kw = dict(params={"p": 0.2}, n=50, generations=12, trials=10_000, seed=5, trajectories=3)
    a = simulate("bernoulli", workers=1, **kw)
    b = simulate("bernoulli", workers=2, executor="processes", **kw)
    assert a.summary.equals(b.summary)
    assert a.trajectories.equals(b.trajectories)
    # until runs there too (tests/test_resume_until.py: bit-identical to threads).
    c = simulate("bernoulli", workers=2, executor="processes", until="collapse", **kw)
    assert c.summary.equals(simulate("bernoulli", workers=1, until="collapse", **kw).summary)
