"""Recursive training of neural language models on their own text: a front end of the one loop.

``run_neural`` prepares a corpus (a contiguous prefix of at most ``max_tokens`` tokens, the last
``heldout`` share kept aside as held-out real text), runs :class:`~modelcollapse.models.neural.
NeuralLM` through ``simulate`` (one trial per block, trial t's stream keyed by (seed, cell, t);
any workflow) with the same :class:`~modelcollapse.forgetting.ForgettingObserver` as
``modelcollapse forget`` and the n-gram front end's ``TextSamples``, and returns a
:class:`NeuralResult`: per-generation metrics of every trial, the tidy summary, and per-word
forgetting times as a :class:`~modelcollapse.forgetting.ForgettingResult` (so ``words.parquet``
has exactly the layout of ``forget``'s).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcollapse.engine import simulate
from modelcollapse.errors import ConfigError
from modelcollapse.forgetting import LINEAR_LAW_SLOPE, ForgettingObserver, ForgettingResult
from modelcollapse.models.base import PerTrialModel
from modelcollapse.models.neural import NeuralLM, split_heldout
from modelcollapse.ngram_recursion import TextSamples

#: Model settings ``run_neural`` passes to :class:`NeuralLM` (and their defaults there).
MODEL_OPTIONS = (
    "embed",
    "hidden",
    "layers",
    "context",
    "epochs",
    "batch_size",
    "lr",
    "temperature",
    "top_p",
    "device",
    "threads",
)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    return int(value)


@dataclass(frozen=True)
class PreparedText:
    """A corpus cut for a neural run: ids with the training words first.

    ``words[:m]`` are the words of the training text, most frequent first (the starting
    vocabulary); ``words[m:]`` occur only in the held-out text.
    """

    words: tuple[str, ...]
    train: np.ndarray
    heldout: np.ndarray
    m: int
    source: dict[str, Any]


def prepare_text(
    ids: np.ndarray,
    words: tuple[str, ...] | list[str],
    *,
    heldout: float = 0.1,
    max_tokens: int | None = None,
    source: dict[str, Any] | None = None,
) -> PreparedText:
    """Cut the first ``max_tokens`` tokens (running text), keep the last ``heldout`` share as
    held-out real text, and renumber words so the training text's words are 0..m-1."""
    ids = np.asarray(ids, dtype=np.int64)
    if max_tokens is not None:
        ids = ids[: _check_int("max_tokens", max_tokens, 2)]
    train, held = split_heldout(ids, heldout)
    if train.size == 0 or held.size == 0:
        raise ConfigError(
            "corpus", f"{ids.size} tokens", "enough tokens for a training and a held-out part"
        )
    counts = np.bincount(train, minlength=len(words))
    in_train = counts > 0
    # Training words by decreasing training count (ties by id), then held-out-only words.
    order = np.r_[
        np.flatnonzero(in_train)[np.argsort(-counts[in_train], kind="stable")],
        np.flatnonzero(~in_train & (np.bincount(held, minlength=len(words)) > 0)),
    ]
    new_id = np.full(len(words), -1, dtype=np.int64)
    new_id[order] = np.arange(order.size)
    return PreparedText(
        tuple(words[i] for i in order),
        new_id[train],
        new_id[held],
        int(np.count_nonzero(in_train)),
        dict(source or {}),
    )


@dataclass
class NeuralResult:
    """What :func:`run_neural` returns.

    ``values[metric]`` is (generations + 1, trials); generation 0 is the real text and the network
    trained on it, generation k the text sampled from network k - 1 (under replace) and network
    k trained on it. ``forgetting`` holds per-word forgetting times (first generation whose
    newest text lacks the word) in ``forget``'s layout. ``summary_frame`` is the loop's summary.
    """

    config: dict[str, Any]
    values: dict[str, np.ndarray]
    summary_frame: pd.DataFrame
    forgetting: ForgettingResult
    samples: list[np.ndarray] = field(default_factory=list)
    words: tuple[str, ...] = ()
    elapsed_s: float = 0.0

    @property
    def generations(self) -> int:
        return int(self.config["generations"])

    @property
    def trials(self) -> int:
        return int(self.config["trials"])

    def summary(self) -> pd.DataFrame:
        """Tidy summary: generation, metric, value (mean over trials), stderr."""
        return self.summary_frame

    def generation_table(self) -> pd.DataFrame:
        """One row per generation: the mean of every metric over trials and, with several
        trials, its standard error (``METRIC_stderr``)."""
        cols: dict[str, Any] = {"generation": np.arange(self.generations + 1)}
        s = self.summary_frame
        for name in self.values:
            cols[name] = self.values[name].mean(axis=1)
            if self.trials > 1:
                cols[f"{name}_stderr"] = s.loc[s["metric"] == name, "stderr"].to_numpy()
        return pd.DataFrame(cols)

    def slope(self, replicates: int = 400) -> tuple[float, float]:
        """Weighted least-squares slope through the origin of the median forgetting generation
        on the real count, and its bootstrap standard error.

        b = sum_c w_c c t_c / sum_c w_c c^2 over the counts c whose (lower) median t_c is
        observed, w_c = number of (word, trial) pairs of count c (as
        ``ForgettingResult.fitted_slope``). The medians are integers, so residuals about the
        line say little about their noise; the standard error is the spread of b over
        ``replicates`` bootstrap resamples of the (word, trial) pairs within each count
        (stream keyed by the run's seed), counts whose resampled median is censored left out.
        """
        fr = self.forgetting
        counts = np.tile(fr.counts, fr.trials)
        fa = fr.forgotten_at.ravel()
        keep = counts > 0
        counts, fa = counts[keep], fa[keep]
        times = np.where(fa < 0, np.inf, fa.astype(float))  # censored sorts last
        groups = [(float(c), times[counts == c]) for c in np.unique(counts)]

        def fit(medians: list[tuple[float, float, float]]) -> float:
            ok = [(c, t, w) for c, t, w in medians if math.isfinite(t)]
            if not ok:
                return float("nan")
            c, t, w = (np.array(v) for v in zip(*ok, strict=True))
            return float(np.sum(w * c * t) / np.sum(w * c * c))

        def lower_median(t: np.ndarray) -> float:
            return float(np.sort(t)[(t.size - 1) // 2])

        b = fit([(c, lower_median(t), t.size) for c, t in groups])
        if not math.isfinite(b):
            return b, float("nan")
        rng = np.random.default_rng(np.random.SeedSequence([int(self.config["seed"]), 0x510]))
        reps = []
        for _ in range(replicates):
            meds = [(c, lower_median(t[rng.integers(0, t.size, t.size)]), t.size) for c, t in groups]
            reps.append(fit(meds))
        reps_arr = np.array(reps)
        reps_arr = reps_arr[np.isfinite(reps_arr)]
        se = float(reps_arr.std(ddof=1)) if reps_arr.size > 1 else float("nan")
        return b, se

    def decode(self, ids: np.ndarray) -> str:
        return " ".join(self.words[int(i)] for i in ids)

    def save(self, out: str | Path, *, overwrite: bool = False, plot: bool = True) -> Path:
        """Write ``summary.parquet``, ``words.parquet`` (``forget``'s layout), ``counts.tsv``,
        ``samples.txt``, ``run.json`` and, with ``plot``, ``forgetting.png|svg`` (atomically)."""
        from modelcollapse.data.counts import write_counts
        from modelcollapse.store import atomic_directory, provenance, write_json, write_parquet

        fr = self.forgetting
        files = ["summary.parquet", "words.parquet", "counts.tsv", "samples.txt", "run.json"]
        slope, slope_se = self.slope()
        with atomic_directory(out, overwrite=overwrite) as tmp:
            write_parquet(self.summary_frame, tmp / "summary.parquet", {"config": self.config})
            write_parquet(fr.words_table(), tmp / "words.parquet")
            write_counts(tmp / "counts.tsv", fr.words, fr.counts.tolist())
            text = "".join(
                f"generation {g}: {self.decode(s)}\n" for g, s in enumerate(self.samples)
            )
            (tmp / "samples.txt").write_text(text, encoding="utf-8")
            if plot:
                from modelcollapse.report.forgetting_plot import forgetting_figure, save_figure

                save_figure(forgetting_figure(fr), tmp, "forgetting")
                files += ["forgetting.png", "forgetting.svg"]
            write_json(
                tmp / "run.json",
                {
                    "config": self.config,
                    "seed": self.config["seed"],
                    "elapsed_s": round(self.elapsed_s, 6),
                    "fitted_slope": slope,
                    "fitted_slope_stderr": slope_se,
                    "linear_law_slope": LINEAR_LAW_SLOPE,
                    "versions": provenance(),
                    "files": files,
                },
            )
        return Path(out)


def build_model(text: PreparedText, *, seed: int = 0, **options: Any) -> NeuralLM:
    """The :class:`NeuralLM` of a prepared text (validates every option; trains nothing)."""
    unknown = sorted(set(options) - set(MODEL_OPTIONS))
    if unknown:
        raise ConfigError("option", unknown[0], f"one of: {', '.join(MODEL_OPTIONS)}")
    return NeuralLM(
        train=text.train,
        heldout=text.heldout,
        vocab_size=len(text.words),
        init_seed=seed,
        **options,
    )


def run_neural(
    text: PreparedText,
    *,
    generations: int,
    trials: int = 1,
    seed: int = 0,
    workflow: str = "replace",
    real_fraction: float | None = None,
    n: int | None = None,
    sample_tokens: int = 60,
    workers: int = 1,
    progress: bool | None = None,
    **options: Any,
) -> NeuralResult:
    """Recursive training of a GRU language model on its own text.

    Generation 0: a network trained on the real training text. Generation k: ``n`` tokens (default:
    as many as the real training text) sampled from network k - 1, and a fresh network trained
    on them (``workflow="replace"``; ``"accumulate"`` trains on the real text plus every
    generation's text, ``"mix"`` on a ``real_fraction`` share of fresh real text plus synthetic
    text; see ``modelcollapse.workflows``).

    Parameters
    ----------
    text : a :class:`PreparedText` (:func:`prepare_text`).
    generations, trials, seed, workflow, real_fraction, workers : as for ``simulate``.
    n : tokens per generation (default: the training text's size).
    sample_tokens : tokens of each generation's text of trial 0 kept in ``samples``.
    options : model settings (:data:`MODEL_OPTIONS`, see :class:`NeuralLM`).

    Returns
    -------
    NeuralResult: per generation and trial the metrics of :data:`~modelcollapse.models.neural.
    METRICS` (held-out perplexity, next-token entropy, vocabulary fraction, distinct n-gram
    fractions) and per word the first generation whose text lacks it.
    """
    seed = _check_int("seed", seed, 0)
    model = build_model(text, seed=seed, **options)
    return run_text_model(
        model,
        text,
        generations=generations,
        trials=trials,
        seed=seed,
        workflow=workflow,
        real_fraction=real_fraction,
        n=n,
        sample_tokens=sample_tokens,
        workers=workers,
        progress=progress,
    )


def run_text_model(
    model: PerTrialModel,
    text: PreparedText,
    *,
    generations: int,
    trials: int = 1,
    seed: int = 0,
    workflow: str = "replace",
    real_fraction: float | None = None,
    n: int | None = None,
    sample_tokens: int = 0,
    workers: int = 1,
    progress: bool | None = None,
) -> NeuralResult:
    """The loop of :func:`run_neural` for any per-trial text model of ``text``'s words (one with
    ``symbol_counts(state)`` over the m starting words; a state with ``.text`` when
    ``sample_tokens`` > 0). Tests run it with the exact unigram sampler in place of the network,
    so the forgetting bookkeeping is checked against ``forget``."""
    started = time.perf_counter()
    generations = _check_int("generations", generations, 1)
    trials = _check_int("trials", trials, 1)
    seed = _check_int("seed", seed, 0)
    sample_tokens = _check_int("sample_tokens", sample_tokens, 0)
    n = int(text.train.size) if n is None else _check_int("n", n, 1)
    forgetting = ForgettingObserver()
    samples = TextSamples(sample_tokens)
    result = simulate(
        model,
        n=n,
        generations=generations,
        trials=trials,
        seed=seed,
        trajectories=True,
        workflow=workflow,
        real_fraction=real_fraction,
        observers=[forgetting, samples],
        workers=workers,
        progress=progress,
    )
    traj = result.trajectories
    names = [o.name for o in model.observables()]
    names += ["real_fraction"] if "real_fraction" in traj else []
    values = {m: traj[m].to_numpy().reshape(generations + 1, trials) for m in names}
    counts0 = np.bincount(text.train, minlength=text.m)
    fr = ForgettingResult(
        words=text.words[: text.m],
        counts=counts0,
        n=n,
        generations=generations,
        trials=trials,
        seed=seed,
        uniq=forgetting.uniq,
        forgotten_at=forgetting.forgotten_at,
        elapsed_s=result.elapsed_s,
        source={"model": model.name, **text.source},
    )
    config = {
        "kind": model.name,
        **result.config,
        "words": text.m,
        "heldout_only_words": len(text.words) - text.m,
        **text.source,
    }
    return NeuralResult(
        config=config,
        values=values,
        summary_frame=result.summary,
        forgetting=fr,
        samples=[samples.samples[g] for g in sorted(samples.samples)],
        words=text.words,
        elapsed_s=time.perf_counter() - started,
    )
