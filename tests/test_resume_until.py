"""Resumption with any observer, and ``until`` on every executor.

Deterministic tests (fixed seeds; exact comparisons between runs): a run resumed from a
checkpoint after a plug-in failure, with a user observer (defined here) and hitting times, gives
the summary of an uninterrupted run bit for bit, and the trials stored before the failure are not
recomputed (counted fits); ``until`` on processes and on a Dask cluster gives the threads
executor's numbers bit for bit.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from modelcollapse.engine import Observer, simulate, tidy
from modelcollapse.engine.executors import CheckpointWarning, stored_trials
from modelcollapse.models.plugin import PluginError, PluginModel
from resume_helpers import FITS, CountingGaussian, LooseVarianceCollapse, VarianceCollapse


class MeanPath(Observer):
    """A user observer: per generation, the sum over trials of the fitted means (times
    ``scale``) and their largest absolute value; the order in which trials were folded and
    each trial's first generation with a fitted variance below the family's threshold.

    Sums of floats depend on the order of the terms in their last bits, so an equal summary
    also says that the blocks were folded in the same order.
    """

    every = True

    def __init__(self, scale: float = 1.0):
        self.scale = scale

    def describe(self):
        return {"scale": self.scale}

    def metric_names(self, family):
        return ("path_sum", "path_max")

    def setup(self, run):
        self._sum: dict[int, float] = {}
        self._max: dict[int, float] = {}
        self.folded: list[int] = []
        self.first_low: dict[int, int] = {}
        self._low = getattr(run.family, "THRESHOLD", VarianceCollapse.THRESHOLD)

    def start(self, run, block):
        return {"trial": block.index, "mu": {}, "low": -1}

    def observe(self, acc, generation, state, share):
        if state.fitted is not None:
            acc["mu"][generation] = self.scale * state.fitted[0]
            if acc["low"] < 0 and state.fitted[1] < self._low:
                acc["low"] = generation

    def fold(self, run, acc):
        self.folded.append(acc["trial"])
        self.first_low[acc["trial"]] = acc["low"]
        for g, m in acc["mu"].items():
            self._sum[g] = self._sum.get(g, 0.0) + m
            self._max[g] = max(self._max.get(g, -math.inf), abs(m))

    def rows(self, run):
        gens = sorted(self._sum)
        return pd.concat(
            [
                tidy(gens, "path_sum", [self._sum[g] for g in gens], math.nan),
                tidy(gens, "path_max", [self._max[g] for g in gens], math.nan),
            ],
            ignore_index=True,
        )


def _model(cls=PluginModel, **kw):
    return cls(model=CountingGaussian(), reference_size=30, **kw)


def _counted(**kw):
    """simulate(...) and the number of fits it made in this process."""
    before = FITS["calls"]
    res = simulate(**kw)
    return res, FITS["calls"] - before


@pytest.fixture(autouse=True)
def _reset_fits():
    FITS.update(calls=0, fail_on=None)
    yield
    FITS.update(calls=0, fail_on=None)


def _observer(res) -> MeanPath:
    return next(o for o in res.observers if isinstance(o, MeanPath))


# ---- resumption with a user observer ------------------------------------------------------


def test_user_observer_resumes_bit_identical_without_recomputing(tmp_path):
    run = dict(n=10, generations=5, trials=12, seed=21, executor="threads", workers=1)
    k, g = 7, run["generations"]
    fresh, fits = _counted(family=_model(), observers=[MeanPath(2.0)], **run)
    assert fits == run["trials"] * g  # one fit per generation per trial (generation 1 included)
    ckpt = tmp_path / "trials"
    # Trials run in order here (one worker), g fits each: the (k g + 2)-th fit is trial k's second.
    FITS.update(calls=0, fail_on=k * g + 2)
    with pytest.raises(PluginError) as err:
        simulate(_model(), observers=[MeanPath(2.0)], checkpoint=str(ckpt), **run)
    assert err.value.trial == k and err.value.generation == 2
    assert stored_trials(ckpt) == list(range(k))
    FITS.update(calls=0, fail_on=None)
    resumed, fits = _counted(family=_model(), observers=[MeanPath(2.0)],
                             checkpoint=str(ckpt), **run)
    assert resumed.config["trials_reused"] == k
    assert fits == (run["trials"] - k) * g  # only the trials that were not stored ran
    pd.testing.assert_frame_equal(resumed.summary, fresh.summary, check_exact=True)
    assert {"path_sum", "path_max"} <= set(resumed.summary["metric"])
    assert _observer(resumed).folded == list(range(run["trials"]))
    # Everything is stored now: a third run reuses every trial and fits nothing.
    again, fits = _counted(family=_model(), observers=[MeanPath(2.0)],
                           checkpoint=str(ckpt), **run)
    assert again.config["trials_reused"] == run["trials"] and fits == 0
    pd.testing.assert_frame_equal(again.summary, fresh.summary, check_exact=True)


def test_a_changed_observer_is_never_replayed(tmp_path):
    import shutil

    run = dict(n=10, generations=3, trials=4, seed=5, executor="threads", workers=1)
    ckpt = tmp_path / "trials"
    simulate(_model(), observers=[MeanPath(1.0)], checkpoint=str(ckpt), **run)
    # Other settings of the same observer, another observer, one observer fewer: all rerun
    # (each on a copy of the checkpoint: a rerun replaces the files of the batches it runs).
    for i, observers in enumerate(([MeanPath(3.0)], [_Other()], [], [MeanPath(1.0)])):
        copy = tmp_path / f"copy{i}"
        shutil.copytree(ckpt, copy)
        res, fits = _counted(family=_model(), observers=observers, checkpoint=str(copy), **run)
        same = i == 3
        assert res.config["trials_reused"] == (run["trials"] if same else 0)
        assert fits == (0 if same else run["trials"] * run["generations"])


class _Other(MeanPath):
    pass


class _Fragile(MeanPath):
    """An observer whose accumulators stop unpickling (as after an edit of their class)."""

    def start(self, run, block):
        return _FragileAcc(super().start(run, block))

    def observe(self, acc, generation, state, share):
        super().observe(acc.inner, generation, state, share)

    def fold(self, run, acc):
        super().fold(run, acc.inner)


class _FragileAcc:
    broken = False

    def __init__(self, inner):
        self.inner = inner

    def __setstate__(self, state):
        if _FragileAcc.broken:
            raise AttributeError("the class has changed")
        self.__dict__.update(state)


def test_a_stored_batch_that_cannot_be_unpickled_is_ignored_with_a_warning(tmp_path):
    run = dict(n=10, generations=3, trials=4, seed=5, executor="threads", workers=1)
    ckpt = str(tmp_path / "trials")
    first = simulate(_model(), observers=[_Fragile()], checkpoint=ckpt, **run)
    _FragileAcc.broken = True
    try:
        with pytest.warns(CheckpointWarning, match="cannot be reused"):
            res, fits = _counted(family=_model(), observers=[_Fragile()], checkpoint=ckpt,
                                 **run)
    finally:
        _FragileAcc.broken = False
    assert res.config["trials_reused"] == 0 and fits == run["trials"] * run["generations"]
    pd.testing.assert_frame_equal(res.summary, first.summary, check_exact=True)


class _Unpicklable(MeanPath):
    """An observer whose accumulators cannot be pickled (they hold a lambda)."""

    def start(self, run, block):
        acc = super().start(run, block)
        acc["f"] = lambda: None
        return acc


def test_unpicklable_accumulators_warn_and_run_again(tmp_path, monkeypatch):
    import pickle

    import modelcollapse.engine.executors as ex

    monkeypatch.setattr(ex, "_dumps", pickle.dumps)  # cloudpickle would pickle the lambda
    run = dict(n=10, generations=3, trials=3, seed=5, executor="threads", workers=1)
    ckpt = str(tmp_path / "trials")
    with pytest.warns(CheckpointWarning, match="cannot be stored"):
        simulate(_model(), observers=[_Unpicklable()], checkpoint=ckpt, **run)
    assert stored_trials(ckpt) == list(range(run["trials"]))  # the metric values are kept
    with pytest.warns(CheckpointWarning, match="cannot be stored"):
        res, fits = _counted(family=_model(), observers=[_Unpicklable()], checkpoint=ckpt,
                             **run)
    assert res.config["trials_reused"] == 0 and fits == run["trials"] * run["generations"]


# ---- until: resumption, and every executor -------------------------------------------------


def test_until_run_resumes_bit_identical_without_recomputing(tmp_path):
    run = dict(n=5, generations=200, trials=10, seed=3, until="collapse", executor="threads",
               workers=1)
    fresh, fits = _counted(family=_model(VarianceCollapse), observers=[MeanPath()], **run)
    stops = _observer(fresh).first_low  # each trial's stop: its first generation below 0.01
    last = fresh.config["generations_run"]
    assert min(stops.values()) > 0 and last == max(stops.values()) < run["generations"]
    assert fits == run["trials"] * last  # the trials that stopped early were carried on
    assert fresh.value(f"reached[{VarianceCollapse.EVENT}]", last) == 1.0
    k = 4
    ckpt = tmp_path / "trials"
    # One worker runs the trials in order, trial t stopping after stops[t] fits: fail in the
    # first fit of trial k.
    FITS.update(calls=0, fail_on=sum(stops[t] for t in range(k)) + 1)
    with pytest.raises(PluginError) as err:
        simulate(_model(VarianceCollapse), observers=[MeanPath()], checkpoint=str(ckpt), **run)
    assert (err.value.trial, err.value.generation) == (k, 1)
    assert stored_trials(ckpt) == list(range(k))
    FITS.update(calls=0, fail_on=None)
    resumed, refits = _counted(family=_model(VarianceCollapse), observers=[MeanPath()],
                               checkpoint=str(ckpt), **run)
    assert resumed.config["trials_reused"] == k
    # The stored trials' first phase (up to their stops) did not run again; their carrying on
    # to the last generation did (it depends on every trial).
    assert refits == fits - sum(stops[t] for t in range(k))
    assert resumed.config["generations_run"] == last
    pd.testing.assert_frame_equal(resumed.summary, fresh.summary, check_exact=True)
    assert _observer(resumed).folded == list(range(run["trials"]))
    # A rerun on processes reuses all of them, with the same numbers.
    again = simulate(_model(VarianceCollapse), observers=[MeanPath()], checkpoint=str(ckpt),
                     **{**run, "executor": "processes", "workers": 2})
    assert again.config["trials_reused"] == run["trials"]
    pd.testing.assert_frame_equal(again.summary, fresh.summary, check_exact=True)


@pytest.fixture(scope="module")
def dask_scheduler():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def _same_everywhere(scheduler, family, **kw):
    base = simulate(family, executor="threads", workers=1, **kw)
    others = [
        simulate(family, executor="threads", workers=2, **kw),
        simulate(family, executor="processes", workers=2, **kw),
        simulate(family, executor="dask", scheduler=scheduler, **kw),
    ]
    for other in others:
        pd.testing.assert_frame_equal(base.summary, other.summary, check_exact=True)
        assert other.config["generations_run"] == base.config["generations_run"]
    return base


def test_until_on_processes_and_dask_gives_the_threads_numbers(dask_scheduler):
    # Three blocks of 4,096 trials, absorbed at different generations; the trajectories and
    # the hitting-time quantiles depend on every generation of every trial.
    base = _same_everywhere(dask_scheduler, "bernoulli", params={"p": 0.3}, n=20,
                            generations=5000, trials=10_000, seed=8, until="collapse",
                            trajectories=5)
    assert base.config["block_trials"] < 10_000  # several blocks
    assert base.config["generations_run"] < 5000
    assert base.value("reached[fixation]", base.config["generations_run"]) == 1.0


def test_until_of_a_per_trial_model_on_every_executor(dask_scheduler):
    base = _same_everywhere(dask_scheduler, _model(VarianceCollapse), observers=[MeanPath()],
                            n=5, generations=200, trials=8, seed=4, until="collapse")
    stops = _observer(base).first_low
    assert len(set(stops.values())) > 1  # the trials stopped at different generations
    # Under a workflow the blocks carry their pools from one phase to the next.
    mixed = _same_everywhere(dask_scheduler, _model(LooseVarianceCollapse),
                             observers=[MeanPath()], n=10, generations=500, trials=6, seed=2,
                             until="collapse", workflow="mix", real_fraction=0.2)
    assert len(set(_observer(mixed).first_low.values())) > 1


def test_until_with_record_every_records_the_grid_and_the_end():
    # Trials stop at different generations, off the recording grid: each block records only the
    # grid (every 3rd) and, for the block that stopped last, the run's final generation. So the
    # plug-in metrics of every trial cover the same generations (this raised "trial 1 recorded
    # other generations than trial 0" when a block also recorded where it stopped), and they
    # equal a fixed-horizon run to that final generation, generation for generation (the metric
    # draws are consumed at the same generations).
    kw = {"n": 5, "trials": 8, "seed": 4, "record_every": 3}
    stopped = simulate(_model(VarianceCollapse), generations=200, until="collapse", **kw)
    last = stopped.config["generations_run"]
    fixed = simulate(_model(VarianceCollapse), generations=last, **kw)
    pd.testing.assert_frame_equal(stopped.summary, fixed.summary, check_exact=True)
    gens = sorted(set(stopped.summary["generation"]))
    assert gens == sorted(set(range(0, last + 1, 3)) | {last})
