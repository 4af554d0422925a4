"""Unigram forgetting on a corpus: which words a recursively retrained unigram model loses, when.

Start from the word counts c_i of a corpus of n tokens and refit the unigram (categorical) model
by maximum likelihood on n tokens sampled from the previous model, generation after generation:
C_k ~ Multinomial(n, C_{k-1} / n) (SPEC.md section 2; the paper's unigram experiment on
WikiText-2, Suresh, Thangaraj and Khandavally, AISTATS 2025, section 5; Merity et al. 2016 for
the corpus). A word whose count reaches 0 is *forgotten*: 0 is absorbing, so the first
generation with count 0 is the word's forgetting time.

Reported here, per generation: the fraction of the vocabulary still alive in each trial, next to
the exact expectation E[uniq_k]/m and the Corollary 1 bounds when a caller attaches them
(``modelcollapse.experiments.forgetting_theory.attach_theory``: theory and simulation meet only
in the experiments layer, DESIGN.md); per
word and trial: the forgetting time. The linear law: in the Poisson branching limit a word of
count c is still alive at generation k with probability about 1 - exp(-c g_k), g_k ~ 2/k
(Corollary 1), so its median forgetting time is about k = 2c / ln 2 = 2.885 c. The law is a
large-count limit: it holds from counts of about 50 up (the exact median per unit count at
n = 10^5 is 2.0, 2.5, 2.6, 2.7, 2.8, 2.84, 2.87 for counts 1, 2, 5, 10, 20, 50, 100;
``modelcollapse.theory.median_forgetting_curve`` computes it).

``forget`` is a front end of the one generation loop: it runs the categorical family through
``simulate`` with a :class:`ForgettingObserver`, so ``forget(counts, seed=s)`` and
``simulate(Categorical(counts=counts), n=n, seed=s)`` are the same run (same blocks, same
streams) and agree on every trial's number of surviving words. The observer reads per-symbol
counts from any model that offers them (``symbol_counts(state)``; the categorical state is its
counts), so text models of other kinds report forgetting times the same way.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from modelcollapse.engine import Observer, simulate
from modelcollapse.errors import ConfigError
from modelcollapse.families.categorical import Categorical, check_counts

#: Median forgetting time per unit of original count: 2 / ln 2 (Poisson branching limit, reached
#: from counts of about 50 up; smaller counts are forgotten sooner per unit count).
LINEAR_LAW_SLOPE = 2.0 / math.log(2.0)
#: Value of ``forgotten_at`` (in numpy arrays) for a word still alive at the last generation.
#: Parquet files store it as NULL instead.
ALIVE = -1


@dataclass
class ForgettingResult:
    """What :func:`forget` returns.

    Attributes
    ----------
    words : the vocabulary (``None`` entries are named ``w<index>`` in tables).
    counts : original count of every word.
    n : tokens sampled per generation.
    uniq : (generations + 1, trials) number of words alive in each trial at each generation.
    forgotten_at : (trials, m) first generation at which the word's count is 0; ``ALIVE`` (-1)
        if it is still alive at the last generation (a right-censored time).
    theory : ``{"exact", "lower", "upper"}`` arrays over generations (fractions of m), or None.
    """

    words: tuple[str, ...]
    counts: np.ndarray
    n: int
    generations: int
    trials: int
    seed: int
    uniq: np.ndarray
    forgotten_at: np.ndarray
    theory: dict[str, np.ndarray] | None = None
    elapsed_s: float = 0.0
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def m(self) -> int:
        """Words alive at generation 0."""
        return int(np.count_nonzero(self.counts))

    @property
    def uniq_frac(self) -> np.ndarray:
        """(generations + 1, trials) fraction of the vocabulary alive."""
        return self.uniq / self.m

    def generation_table(self) -> pd.DataFrame:
        """One row per generation: simulated mean fraction alive, its standard error, theory."""
        frac = self.uniq_frac
        gens = np.arange(self.generations + 1)
        se = (
            frac.std(axis=1, ddof=1) / math.sqrt(self.trials)
            if self.trials > 1
            else np.full(gens.size, np.nan)
        )
        cols: dict[str, Any] = {
            "generation": gens,
            "uniq_frac": frac.mean(axis=1),
            "stderr": se,
            "uniq_mean": self.uniq.mean(axis=1),
        }
        if self.theory is not None:
            cols["exact"] = self.theory["exact"]
            cols["lower"] = self.theory["lower"]
            cols["upper"] = self.theory["upper"]
        return pd.DataFrame(cols)

    def summary(self) -> pd.DataFrame:
        """The tidy summary (generation, metric, value, stderr), like the engine's.

        Metrics: ``uniq_frac`` (simulated), and when the theory is available
        ``uniq_frac_exact``, ``uniq_frac_lower``, ``uniq_frac_upper`` (stderr NaN: no Monte Carlo).
        """
        wide = self.generation_table()
        names = ["uniq_frac"] + (
            ["uniq_frac_exact", "uniq_frac_lower", "uniq_frac_upper"] if self.theory else []
        )
        values = [wide["uniq_frac"]] + (
            [wide["exact"], wide["lower"], wide["upper"]] if self.theory else []
        )
        nan = np.full(len(wide), np.nan)
        errors = [wide["stderr"].to_numpy()] + [nan] * (len(names) - 1)
        values = [np.asarray(v, dtype=float) for v in values]
        k = len(names)
        return pd.DataFrame(
            {
                "generation": np.repeat(wide["generation"].to_numpy(), k).astype(np.int64),
                "metric": np.tile(np.asarray(names, dtype=object), len(wide)),
                "value": np.stack(values, axis=1).ravel(),
                "stderr": np.stack(errors, axis=1).ravel(),
            }
        )

    def words_table(self) -> dict[str, Any]:
        """Long table: one row per (word, trial) with ``word``, ``count``, ``trial``,
        ``forgotten_at`` (a numpy masked array: masked = still alive at the end)."""
        return words_columns(self.words, self.counts, self.forgotten_at)

    def median_forgetting(self) -> pd.DataFrame:
        """Per distinct original count c: number of (word, trial) pairs, the fraction forgotten
        by the last generation, and the median forgetting time when more than half are
        forgotten (NaN otherwise: the median is censored)."""
        counts = np.tile(self.counts, self.trials)
        fa = self.forgotten_at.ravel()
        keep = counts > 0
        counts, fa = counts[keep], fa[keep]
        uniq, inverse = np.unique(counts, return_inverse=True)
        # Censored times sort after every observed one: replace ALIVE with +inf.
        t = np.where(fa == ALIVE, np.inf, fa.astype(float))
        order = np.lexsort((t, inverse))
        t_sorted = t[order]
        sizes = np.bincount(inverse, minlength=uniq.size)
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        forgotten = np.bincount(inverse, weights=(fa != ALIVE), minlength=uniq.size)
        # Lower median (the ceil(s/2)-th smallest) of each group.
        med = t_sorted[starts + (sizes - 1) // 2]
        med = np.where(np.isfinite(med), med, np.nan)
        return pd.DataFrame(
            {
                "count": uniq,
                "pairs": sizes,
                "forgotten_frac": forgotten / sizes,
                "median_forgotten_at": med,
            }
        )

    def fitted_slope(self) -> float:
        """Least-squares slope through the origin of median forgetting time on count, over the
        counts whose median is observed (NaN if none)."""
        med = self.median_forgetting()
        ok = np.isfinite(med["median_forgotten_at"].to_numpy())
        if not np.any(ok):
            return float("nan")
        c = med["count"].to_numpy()[ok].astype(float)
        t = med["median_forgotten_at"].to_numpy()[ok]
        w = med["pairs"].to_numpy()[ok].astype(float)
        return float(np.sum(w * c * t) / np.sum(w * c * c))

    def config(self) -> dict[str, Any]:
        return {
            "kind": "forget",
            "n": self.n,
            "m": self.m,
            "generations": self.generations,
            "trials": self.trials,
            "seed": self.seed,
            "theory": self.theory is not None,
            "alive_sentinel": "forgotten_at is NULL in words.parquet (-1 in numpy) for a word "
            "still alive at the last generation",
            **self.source,
        }

    def save(
        self,
        out: str | os.PathLike,
        *,
        overwrite: bool = False,
        plot: bool = True,
        plot_scale: str = "log",
    ) -> Path:
        """Write ``summary.parquet``, ``words.parquet``, ``counts.tsv``, ``forgetting.png`` and
        ``run.json`` into the run directory ``out`` (atomically)."""
        from modelcollapse.data.counts import write_counts
        from modelcollapse.store import atomic_directory, provenance, write_json, write_parquet

        files = ["summary.parquet", "words.parquet", "counts.tsv", "run.json"]
        with atomic_directory(out, overwrite=overwrite) as tmp:
            write_parquet(self.summary(), tmp / "summary.parquet", {"config": self.config()})
            write_parquet(self.words_table(), tmp / "words.parquet")
            write_counts(tmp / "counts.tsv", self.words, self.counts.tolist())
            if plot:
                from modelcollapse.report.forgetting_plot import forgetting_figure, save_figure

                save_figure(forgetting_figure(self, scale=plot_scale), tmp, "forgetting")
                files += ["forgetting.png", "forgetting.svg"]
            write_json(
                tmp / "run.json",
                {
                    "config": self.config(),
                    "seed": self.seed,
                    "elapsed_s": round(self.elapsed_s, 6),
                    "fitted_slope": self.fitted_slope(),
                    "linear_law_slope": LINEAR_LAW_SLOPE,
                    "versions": provenance(),
                    "files": files,
                },
            )
        return Path(out)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    return int(value)


def forget(
    counts: np.ndarray | list[int],
    *,
    generations: int,
    trials: int = 5,
    seed: int = 0,
    n: int | None = None,
    words: list[str] | tuple[str, ...] | None = None,
    progress: bool | None = None,
    source: dict[str, Any] | None = None,
) -> ForgettingResult:
    """Recursive unigram training from corpus counts, tracking when each word is forgotten.

    C_0 = counts; C_k ~ Multinomial(n, C_{k-1} / sum C_{k-1}) for k = 1..generations, in
    ``trials`` independent trials (Suresh et al., AISTATS 2025, Corollary 1 and the WikiText-2
    experiment).

    Parameters
    ----------
    counts : word counts of the corpus (non-negative integers, not all zero).
    generations : number of refits K (>= 1).
    trials : independent trials (the paper used 5).
    seed : seed of the random streams (the engine's policy, ``modelcollapse.seeding``).
    n : tokens per generation; default the corpus size sum(counts), the paper's choice.
    words : the words, for the tables (default ``w0, w1, ...``).
    progress : tqdm bar over generations (default: on a terminal, after one second).

    Returns
    -------
    ForgettingResult
    """
    started = time.perf_counter()
    counts = check_counts(counts)
    generations = _check_int("generations", generations, 1)
    trials = _check_int("trials", trials, 1)
    seed = _check_int("seed", seed, 0)
    n = int(counts.sum()) if n is None else _check_int("n", n, 1)
    if words is None:
        words = tuple(f"w{i}" for i in range(counts.size))
    elif len(words) != counts.size:
        raise ConfigError("words", len(words), f"one word per count ({counts.size})")
    observer = ForgettingObserver()
    simulate(
        Categorical(counts=counts),
        n=n,
        generations=generations,
        trials=trials,
        seed=seed,
        method="exact",
        metrics=[],
        observers=[observer],
        progress=progress,
    )
    uniq, forgotten_at = observer.uniq, observer.forgotten_at
    return ForgettingResult(
        words=tuple(words),
        counts=counts,
        n=n,
        generations=generations,
        trials=trials,
        seed=seed,
        uniq=uniq,
        forgotten_at=forgotten_at,
        elapsed_s=time.perf_counter() - started,
        source=dict(source or {}),
    )


def words_columns(words: Any, counts: Any, forgotten_at: np.ndarray) -> dict[str, Any]:
    """The words.parquet layout: one row per (word, trial), trial-major, with ``word``,
    ``count``, ``trial`` and ``forgotten_at`` (a masked array: masked = still alive at the end,
    NULL in Parquet)."""
    trials, m = forgotten_at.shape
    fa = forgotten_at.ravel()
    return {
        "word": np.tile(np.asarray(words, dtype=object), trials),
        "count": np.tile(np.asarray(counts), trials),
        "trial": np.repeat(np.arange(trials, dtype=np.int32), m),
        "forgotten_at": np.ma.masked_array(fa, mask=fa == ALIVE),
    }


class ForgettingObserver(Observer):
    """Per-symbol forgetting times and the number of symbols alive, at every generation.

    Reads the per-symbol counts of each trial (``family.symbol_counts(state)`` where the family
    has it, else the state itself, as for the categorical family). A symbol is forgotten at the
    first generation its count is 0; for the categorical family 0 is absorbing, for other
    models (whose text may bring a word back) this is the first generation it is missing.

    After the run: ``uniq`` (generations + 1, trials) symbols alive, ``forgotten_at``
    (trials, m) first generation with count 0, ``ALIVE`` (-1) if never.
    """

    every = True

    def check(self, family: Any) -> None:
        if not (isinstance(family, Categorical) or hasattr(family, "symbol_counts")):
            raise ConfigError(
                "observer",
                "forgetting",
                f"needs a model with per-symbol counts (categorical, ngram), not {family.name}",
            )

    def setup(self, run: Any) -> None:
        self._family = run.family
        self._counts_of = getattr(run.family, "symbol_counts", None)
        self._uniq: list[np.ndarray] = []
        self._forgotten: list[np.ndarray] = []

    def start(self, run: Any, block: Any) -> Any:
        return {"uniq": [], "fa": None}

    def observe(self, acc: Any, generation: int, state: Any, share: Any) -> None:
        counts = state if self._counts_of is None else self._counts_of(state)
        dead = counts == 0
        if acc["fa"] is None:
            acc["fa"] = np.full(dead.shape, ALIVE, dtype=np.int32)
        fa = acc["fa"]
        acc["uniq"].append(dead.shape[1] - dead.sum(axis=1))
        fa[dead & (fa == ALIVE)] = generation

    def fold(self, run: Any, acc: Any) -> None:
        self._uniq.append(np.stack(acc["uniq"]))
        self._forgotten.append(acc["fa"])

    def finish(self, run: Any) -> None:
        self.uniq = np.concatenate(self._uniq, axis=1).astype(np.int64)
        self.forgotten_at = np.concatenate(self._forgotten, axis=0)

    def files(self, run: Any) -> dict[str, Any]:
        """``words.parquet``: one row per (symbol, trial), ``forgotten_at`` NULL if alive."""
        fam = self._family
        m = self.forgotten_at.shape[1]
        names = getattr(fam, "symbols", None) or tuple(f"w{i}" for i in range(m))
        counts = getattr(fam, "counts", None)
        counts = np.full(m, -1, dtype=np.int64) if counts is None else np.asarray(counts)
        return {"words.parquet": words_columns(names, counts, self.forgotten_at)}


def forget_corpus(
    corpus: Any, *, generations: int, trials: int = 5, seed: int = 0, **kwargs: Any
) -> ForgettingResult:
    """:func:`forget` on a :class:`~modelcollapse.data.Corpus` (n = its token count)."""
    return forget(
        corpus.counts,
        generations=generations,
        trials=trials,
        seed=seed,
        words=corpus.vocab,
        source={"corpus": corpus.describe()},
        **kwargs,
    )
