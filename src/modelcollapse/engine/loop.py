"""The one generation loop: blocks of trials, the workflow between generations, observers.

Every recursive-training run goes through here: ``simulate`` itself, ``forget`` (the unigram
model with a per-word forgetting observer), the n-gram models and any per-trial model (a block
of one trial with its own random stream, ``modelcollapse.engine.pertrial``). The loop advances a
block's state one generation at a time (``Family.step`` under replace and a constant n, else
the workflow's pools, ``modelcollapse.workflows``) and hands the state to its observers; it
records nothing itself.

``until=EVENT`` stops a block as soon as all its trials have entered the event (the event
observer counts them), and then carries every block that stopped earlier on to the generation
at which the last one stopped, from the same random stream, so every generation the run
reports sums over all trials exactly as a run with that fixed horizon would.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from modelcollapse.engine.observers import Block, HittingTimes, Observer
from modelcollapse.families.base import Family
from modelcollapse.seeding import Seed, block_generator, trial_generator
from modelcollapse.workflows import WorkflowRun

#: Generations between two progress-bar updates of one block.
_BAR_EVERY = 256


@dataclass
class RunPlan:
    """Everything a block needs to run: picklable, so a block can run in another process."""

    family: Family
    method: str
    sizes: np.ndarray  # n_k for k = 0..generations (index 0 unused)
    workflow: str
    lam: float
    generations: int  # the horizon (the cap, under ``until``)
    every: int  # record every r-th generation, and the last
    trials: int
    block_trials: int
    seed: Seed
    cell: int
    observers: tuple[Observer, ...]
    until: HittingTimes | None = None
    last: int = -1  # the final generation, known when the run is over

    @property
    def n_blocks(self) -> int:
        return math.ceil(self.trials / self.block_trials)

    @property
    def per_trial(self) -> bool:
        return bool(getattr(self.family, "per_trial", False))

    def block(self, b: int) -> Block:
        first = b * self.block_trials
        return Block(b, first, min(self.block_trials, self.trials - first))

    def generator(self, b: int) -> np.random.Generator:
        if self.per_trial:
            return trial_generator(self.seed, b, self.cell)
        return block_generator(self.seed, b, self.cell)

    def recorded(self) -> np.ndarray:
        """The recorded generations of the finished run: every r-th, and the last."""
        last = self.generations if self.last < 0 else self.last
        return np.unique(np.r_[np.arange(0, last + 1, self.every), last])

    @property
    def simple(self) -> bool:
        return self.workflow == "replace" and bool(np.all(self.sizes == self.sizes[0]))


@dataclass
class BlockRun:
    """A block in progress: its state, stream, workflow pools and observer accumulators."""

    block: Block
    state: Any
    rng: np.random.Generator
    flow: WorkflowRun | None
    accs: list[Any]
    share: np.ndarray | None = None
    generation: int = 0
    #: The last generation the recording observers saw (0: the start).
    recorded: int = 0


def start_block(plan: RunPlan, b: int) -> BlockRun:
    block = plan.block(b)
    fam = plan.family
    rng = plan.generator(b)
    state = fam.initial_state(block.size)
    flow = None
    if not plan.simple:
        flow = WorkflowRun(fam, plan.workflow, plan.lam, plan.sizes, plan.method, block.size)
    accs = [obs.start(plan, block) for obs in plan.observers]
    run = BlockRun(block, state, rng, flow, accs)
    for obs, acc in zip(plan.observers, accs, strict=True):
        obs.observe(acc, 0, state, None)
    return run


def advance(
    plan: RunPlan,
    run: BlockRun,
    last: int,
    *,
    stop_early: bool,
    tick: Callable[[int], None] | None = None,
) -> BlockRun:
    """Advance ``run`` to generation ``last`` (or, with ``stop_early``, until every trial of the
    block has entered the ``until`` event), recording as it goes."""
    fam, n, method = plan.family, int(plan.sizes[0]), plan.method
    # Generation 1 trains on real data, drawn from the generation-0 model without the sampler
    # (unless that model was itself fitted to the real data: the text models).
    real_fam = fam.real_data_family()
    every = plan.every
    obs_all = plan.observers
    every_gen = [(o, a) for o, a in zip(obs_all, run.accs, strict=True) if o.every]
    recorded_only = [(o, a) for o, a in zip(obs_all, run.accs, strict=True) if not o.every]
    until = plan.until
    until_acc = run.accs[obs_all.index(until)] if until is not None else None
    if stop_early and until_acc is not None and until.done(until_acc):
        return run
    state, share, flow, rng = run.state, run.share, run.flow, run.rng
    size = run.block.size
    # Per-trial models are slow per generation: tick every generation for them.
    bar_every = 1 if plan.per_trial else _BAR_EVERY
    pending = 0
    g = run.generation
    while g < last:
        g += 1
        if flow is None:
            state = (fam if g > 1 else real_fam).step(state, n, rng, method)
        else:
            state, share = flow.step(state, g, rng)
        for obs, acc in every_gen:
            obs.observe(acc, g, state, share)
        stop = stop_early and until.done(until_acc)
        # Only on the grid (every r-th and the last): a block that stops early off the grid is
        # recorded where the run ends (record_final), so every block records the same
        # generations and a recording observer's draws match the fixed horizon's.
        if g % every == 0 or g == last:
            for obs, acc in recorded_only:
                obs.observe(acc, g, state, share)
            run.recorded = g
        pending += 1
        if tick is not None and pending == bar_every:
            tick(pending * size)
            pending = 0
        if stop:
            break
    if tick is not None and pending:
        tick(pending * size)
    run.state, run.share, run.generation = state, share, g
    return run


def record_final(plan: RunPlan, run: BlockRun) -> None:
    """Record ``run`` at its generation if the recording observers have not seen it: the
    block an ``until`` run stopped last ends the run there, on the grid or not."""
    if run.recorded == run.generation:
        return
    for obs, acc in zip(plan.observers, run.accs, strict=True):
        if not obs.every:
            obs.observe(acc, run.generation, run.state, run.share)
    run.recorded = run.generation


def run_blocks(
    plan: RunPlan,
    blocks: Sequence[int],
    *,
    stop_early: bool,
    tick: Callable[[int], None] | None = None,
) -> list[BlockRun]:
    """Start and advance the given blocks (the unit of work of every executor)."""
    out = []
    for b in blocks:
        run = start_block(plan, b)
        out.append(advance(plan, run, plan.generations, stop_early=stop_early, tick=tick))
    return out


def execute(
    plan: RunPlan,
    *,
    workers: int = 1,
    tick: Callable[[int], None] | None = None,
) -> None:
    """Run every block of ``plan`` on ``workers`` threads and fold the observers in block order.

    Without ``until``, blocks are folded wave by wave (memory bounded by ``workers`` blocks).
    With it, each block runs until its own trials are all absorbed; the blocks that stopped
    before the last one are then carried on to that generation (same streams), and only then
    are all blocks folded, in order.
    """
    stop_early = plan.until is not None
    for obs in plan.observers:
        obs.setup(plan)

    def one(b: int) -> BlockRun:
        return run_blocks(plan, [b], stop_early=stop_early, tick=tick)[0]

    kept: list[BlockRun] = []
    waves = range(0, plan.n_blocks, max(1, workers))
    pool = ThreadPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        for start in waves:
            ids = range(start, min(start + max(1, workers), plan.n_blocks))
            runs = list(pool.map(one, ids)) if pool is not None else [one(b) for b in ids]
            if stop_early:
                kept.extend(runs)
            else:
                for run in runs:
                    _fold(plan, run)
        if stop_early:
            plan.last = max(run.generation for run in kept)
            lagging = [run for run in kept if run.generation < plan.last]

            def carry(run: BlockRun) -> BlockRun:
                return advance(plan, run, plan.last, stop_early=False, tick=None)

            if pool is not None:
                list(pool.map(carry, lagging))
            else:
                for run in lagging:
                    carry(run)
            for run in kept:
                record_final(plan, run)
                _fold(plan, run)
        else:
            plan.last = plan.generations
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    for obs in plan.observers:
        obs.finish(plan)


def _fold(plan: RunPlan, run: BlockRun) -> None:
    for obs, acc in zip(plan.observers, run.accs, strict=True):
        obs.fold(plan, acc)
