"""ngram: recursive training of n-gram language models on WikiText-2, fraction of words kept.

Suresh, Thangaraj and Khandavally, "Rate of Model Collapse in Recursive Training" (AISTATS 2025),
n-gram experiment: n-gram models (n = 2 and more) trained by maximum likelihood on the WikiText-2
sample (Merity et al. 2016), each generation generating as many tokens as it was trained on, as
sentences of at most 50 words each started from an (n-1)-gram context drawn from its training
text; 10 generations. The paper gives no numbers, only the curves of the fraction of unique words
(vocabulary of generation k / original vocabulary).

As a reference we draw the exact unigram E[uniq_k]/m for the same corpus (Corollary 1's
setting). For n >= 2 that is not a theorem: generated tokens are not independent draws. It is
the natural yardstick because each word's count in the generated text is still, to first order,
a neutral resampling of its count in the training text, whatever the order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modelcollapse.experiments.base import (
    Comparison,
    Context,
    Experiment,
    Outcome,
    at,
    register,
    series_table,
)
from modelcollapse.experiments.plotting import COLORS, new_figure
from modelcollapse.experiments.text_unigram import indicator_stderr, text_corpus
from modelcollapse.families.ngram import DEFAULT_MAX_WORDS
from modelcollapse.ngram_recursion import run_ngram
from modelcollapse.theory.categorical import expected_unique_fraction

GENERATIONS = 10
#: Orders per scale: the paper's figure shows n = 2 and more; higher orders cost more (a 5-gram
#: run of 10 generations takes about 5 s on a 2-core machine, an 8-gram about 8.5 s).
ORDERS = {"quick": (2, 3), "paper": (2, 3, 5), "large": (2, 3, 5, 8)}
#: Trials: one per order at the paper's scale (no trial count is published); a few at large.
TRIALS, LARGE_CAP = 1, 2
ORDER_COLORS = ("#1f77b4", "#9467bd", "#8c564b", "#e377c2")


def run(ctx: Context) -> Outcome:
    # n-grams need running text, so there is no word-frequency fallback here.
    corpus = text_corpus(ctx, needs="n-gram models are trained on running text, not on counts")
    counts = corpus.counts
    n, m = int(counts.sum()), int(np.count_nonzero(counts))
    orders = ORDERS.get(ctx.scale, ORDERS["paper"])
    trials = ctx.trials(TRIALS, large_cap=LARGE_CAP)
    k = np.arange(GENERATIONS + 1)
    exact = expected_unique_fraction(k, counts=counts, n=n)
    # The standard error of a unigram recursion with as many trials, to judge the n-gram curves'
    # distance from the reference line (see text_unigram.indicator_stderr). With one or two
    # trials a sample standard error is meaningless, so this band is the yardstick.
    band = indicator_stderr(counts, n, k, trials)

    fig, (ax, axd) = new_figure(2, width=11.0, height=4.2)
    ax.plot(k, exact, color=COLORS["exact"], lw=1.2, label="unigram, exact E[uniq_k]/m")
    axd.fill_between(
        k,
        -2 * band,
        2 * band,
        color=COLORS["exact"],
        alpha=0.12,
        lw=0,
        label=f"±2 s.e. of a unigram recursion, {trials} trial(s)",
    )
    axd.axhline(0.0, color=COLORS["exact"], lw=1.0, label="unigram exact")
    series = [("unigram_exact", k, exact, None)]
    rows: list[Comparison] = []
    worst = {}
    for i, order in enumerate(orders):
        res = run_ngram(
            corpus.ids,
            order=order,
            generations=GENERATIONS,
            trials=trials,
            seed=ctx.seed,
            max_words=DEFAULT_MAX_WORDS,
            vocab_size=len(corpus.vocab),
            sample_tokens=0,
            progress=False,
        )
        v = res.values["vocab_frac"]
        mean = v.mean(axis=1)
        se = v.std(axis=1, ddof=1) / np.sqrt(trials) if trials > 1 else None
        color = ORDER_COLORS[i % len(ORDER_COLORS)]
        label = f"{order}-gram" + (f", {trials} trials" if trials > 1 else ", 1 trial")
        shift = 0.08 * (i - (len(orders) - 1) / 2)  # side by side, so markers do not hide
        # Means only: error bars from a sample of one or two trials would mislead (the band on
        # the right is the noise scale).
        ax.plot(k[1:] + shift, mean[1:], "o", ms=3.5, color=color, label=label)
        axd.plot(k[1:] + shift, (mean - exact)[1:], "o-", ms=3.5, lw=0.8, color=color, label=label)
        ratio = np.abs(mean - exact)[1:] / band[1:]
        worst[order] = float(ratio.max())
        series.append((f"vocab_frac[n={order}]", k, mean, se))
        rows += [
            Comparison(
                "ngram",
                f"vocab_frac[n={order}]",
                float(kv),
                at(k, mean, kv),
                None if se is None else at(k, se, kv),
                None,
                None,
            )
            for kv in (1, 5, 10)
        ]
    ax.set_ylim(min(0.4, float(exact.min()) - 0.05), 1.02)
    ax.set_xlabel("generation k")
    ax.set_ylabel("vocabulary of generation k / original vocabulary")
    ax.set_title(
        f"ML n-gram recursion on {Path(corpus.source).name}: {n:,} tokens, {m:,} words, L = "
        f"{DEFAULT_MAX_WORDS}",
        fontsize=9,
    )
    ax.legend(loc="upper right")
    axd.set_xlabel("generation k")
    axd.set_ylabel("n-gram − unigram exact")
    axd.set_title("difference from the unigram exact value", fontsize=9)
    axd.legend(loc="lower left")

    notes = [
        f"Corpus: {ctx.corpus_label or corpus.source}; paper tokenizer; each generation "
        f"generates {n:,} tokens as sentences of at most {DEFAULT_MAX_WORDS} words, each started "
        "from an (n-1)-gram context of the training text; orders "
        f"{', '.join(map(str, orders))}; {trials} trial(s) each. No published numbers.",
        "The black line is the exact E[uniq_k]/m of the *unigram* recursion on the same corpus "
        "(Corollary 1's setting). For n >= 2 it is a reference, not a theorem: tokens of an "
        "n-gram text are not independent, but a word's count in the generated text is still "
        "close to a neutral resampling of its count in the training text, so words are lost at "
        "about the unigram rate whatever the order; higher orders lose word *combinations* more "
        "slowly because long contexts copy the training text.",
        "Largest distance from the unigram line, in units of the standard error of the unigram "
        "recursion with the same number of trials: "
        + ", ".join(f"{o}-gram {w:.1f}" for o, w in worst.items())
        + " (for a unigram, trial-to-trial noise alone gives up to about 3 over 10 correlated "
        "generations; clearly larger values would mean that the order changes the rate).",
    ]
    settings = {
        "corpus": ctx.corpus_label or corpus.source,
        "tokenizer": "paper",
        "n_tokens": n,
        "vocabulary": m,
        "orders": list(orders),
        "generations": GENERATIONS,
        "trials": trials,
        "max_words": DEFAULT_MAX_WORDS,
        "seed": ctx.seed,
    }
    return Outcome(series_table(series), rows, fig, notes, settings)


register(
    Experiment(
        "ngram",
        "n-gram language models on WikiText-2: fraction of words kept",
        "paper: n-gram experiment (no published numbers)",
        "Recursive maximum-likelihood training of n-gram models (n = 2 and more) on the WikiText "
        "sample; the vocabulary fraction per generation against the exact unigram value.",
        run,
    )
)
