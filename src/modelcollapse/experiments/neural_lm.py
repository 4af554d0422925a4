"""neural-lm: a GRU language model trained on its own text; does it forget words like a unigram?

Beyond the paper. Suresh, Thangaraj and Khandavally (AISTATS 2025) show that a recursively
refitted unigram model forgets a word seen c times after about 2c / ln 2 = 2.885 c generations
(median, Poisson branching limit) and ask whether richer models behave alike; Shumailov et al.
(Nature 2024) saw a language model fine-tuned on its own output lose its tails. Here a small
word-level GRU (``modelcollapse.models.neural``) is trained from scratch on a contiguous
WikiText-2 prefix, then each generation on text it generated, under three workflows: replace
(the paper's), accumulate (all real and synthetic text so far) and mix (half fresh real text).

Reported: the fraction of the starting vocabulary the network still generates, next to the exact
unigram E[uniq_k]/m for the same counts and text size (Corollary 1's setting; a yardstick, not
a theorem, for a network); held-out perplexity of real text; distinct n-gram fractions; and
per word, the generation at which the network stopped generating it against its real count,
with the unigram's exact median forgetting generation and the linear law, and a weighted
least-squares slope with its standard error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from modelcollapse.experiments.base import (
    Comparison,
    Context,
    Experiment,
    ExperimentSkipped,
    Outcome,
    register,
    series_table,
)
from modelcollapse.experiments.plotting import COLORS, STYLE
from modelcollapse.experiments.text_unigram import text_corpus
from modelcollapse.forgetting import LINEAR_LAW_SLOPE
from modelcollapse.models.neural import resolve_device, torch_available
from modelcollapse.neural_recursion import build_model, prepare_text, run_text_model
from modelcollapse.theory.calculators import forgetting_generation
from modelcollapse.theory.categorical import expected_unique_fraction

#: Settings per scale. paper: a 12,000-token WikiText prefix (10,800 training tokens), a GRU of
#: about 0.2 M weights, 6 generations (under 3 minutes on a busy 2-core machine, see
#: docs/neural.md); large: the whole sample and a wider network, meant for a GPU.
SCALES: dict[str, dict[str, Any]] = {
    "quick": {
        "max_tokens": 4_000,
        "generations": 2,
        "trials": {"replace": 1, "accumulate": 1, "mix": 1},
        "model": {"embed": 16, "hidden": 32, "epochs": 1},
    },
    "paper": {
        "max_tokens": 12_000,
        "generations": 6,
        "trials": {"replace": 3, "accumulate": 1, "mix": 1},
        "model": {"embed": 32, "hidden": 64, "epochs": 3},
    },
    "large": {
        "max_tokens": None,
        "generations": 20,
        "trials": {"replace": 5, "accumulate": 2, "mix": 2},
        "model": {"embed": 128, "hidden": 512, "epochs": 5, "batch_size": 64, "lr": 3e-3},
    },
}
#: Real share of the mix workflow.
MIX_FRACTION = 0.5
WORKFLOW_COLORS = {"replace": "#1f77b4", "accumulate": "#2ca02c", "mix": "#d62728"}
HOW_TO_GET_TORCH = (
    "PyTorch is not installed: pip install torch==2.13.0, then pip install -e '.[torch]'"
)


def run(ctx: Context) -> Outcome:
    if not torch_available():
        raise ExperimentSkipped(HOW_TO_GET_TORCH)
    corpus = text_corpus(ctx, needs="the network is trained on running text")

    cfg = SCALES.get(ctx.scale, SCALES["paper"])
    device = resolve_device("auto")
    if ctx.scale == "large" and device == "cpu":
        # Hours on a CPU: the large setting exists for a GPU.
        raise ExperimentSkipped(
            "--scale large trains a wide network on the whole corpus and is meant for a GPU; "
            "torch sees none here (--scale paper runs on a CPU)"
        )
    text = prepare_text(corpus.ids, corpus.vocab, heldout=0.1, max_tokens=cfg["max_tokens"])
    model = build_model(text, seed=ctx.seed, device=device, **cfg["model"])
    gens = cfg["generations"]
    n = int(text.train.size)
    k = np.arange(gens + 1)
    counts = np.bincount(text.train, minlength=text.m)
    exact = expected_unique_fraction(k, counts=counts, n=n)

    # One model object for the three workflows: the generation-0 network is trained once.
    results = {}
    for wf, trials in cfg["trials"].items():
        results[wf] = run_text_model(
            model,
            text,
            generations=gens,
            trials=trials,
            seed=ctx.seed,
            workflow=wf,
            real_fraction=MIX_FRACTION if wf == "mix" else None,
            workers=ctx.workers,
            progress=False,
        )

    import matplotlib.pyplot as plt

    plt.rcParams.update(STYLE)
    fig, axes = plt.subplots(2, 2, figsize=(12.0, 8.4))
    ax_v, ax_p, ax_f, ax_d = axes.ravel()
    series: list[tuple[str, Any, Any, Any]] = [("unigram_exact", k, exact, None)]
    rows: list[Comparison] = []
    ax_v.plot(k, exact, color=COLORS["exact"], lw=1.2, label="unigram, exact E[uniq_k]/m")
    for i, (wf, res) in enumerate(results.items()):
        color = WORKFLOW_COLORS[wf]
        shift = 0.07 * (i - 1)
        label = wf + (f" (λ = {MIX_FRACTION})" if wf == "mix" else "") + f", {res.trials} trial(s)"
        for name, ax in (("vocab_frac", ax_v), ("perplexity", ax_p)):
            v = res.values[name]
            mean = v.mean(axis=1)
            se = v.std(axis=1, ddof=1) / np.sqrt(res.trials) if res.trials > 1 else None
            ax.errorbar(
                k + shift,
                mean,
                yerr=None if se is None else 2 * se,
                fmt="o-",
                ms=3.5,
                lw=0.8,
                color=color,
                label=label,
            )
            series.append((f"{name}[{wf}]", k, mean, se))
            rows += [
                Comparison(
                    "neural-lm",
                    f"{name}[{wf}]",
                    float(g),
                    float(mean[g]),
                    None if se is None else float(se[g]),
                )
                for g in (1, gens)
            ]
    ax_v.set_xlabel("generation k")
    ax_v.set_ylabel("starting vocabulary still generated")
    ax_v.set_title("vocabulary retained (±2 s.e. over trials)", fontsize=9)
    ax_v.legend(loc="lower left")
    ax_p.set_xlabel("generation k")
    ax_p.set_ylabel("perplexity of held-out real text")
    ax_p.set_title("held-out perplexity", fontsize=9)
    ax_p.legend(loc="upper left")

    # Forgetting time against real count (replace): the network's median per count beside the
    # unigram's exact median and the linear law.
    rep = results["replace"]
    med = rep.forgetting.median_forgetting()
    ok = np.isfinite(med["median_forgotten_at"].to_numpy())
    c_obs = med["count"].to_numpy()[ok]
    t_obs = med["median_forgotten_at"].to_numpy()[ok]
    slope, slope_se = rep.slope()
    # Counts up to a little beyond those the run could see forgotten (the law's c = k / 2.885).
    c_max = int(max(4, c_obs.max() if c_obs.size else 1, np.ceil(gens / LINEAR_LAW_SLOPE) + 2))
    c_grid = np.arange(1, c_max + 1)
    uni = forgetting_generation(c_grid, n, 0.5)
    ax_f.plot(c_obs, t_obs, "o", ms=4, color=WORKFLOW_COLORS["replace"], label="GRU, median")
    ax_f.plot(c_grid, uni, "s-", ms=3, lw=1, color=COLORS["exact"], label="unigram, exact median")
    ax_f.plot(
        c_grid,
        LINEAR_LAW_SLOPE * c_grid,
        "--",
        lw=1,
        color=COLORS["lower"],
        label=f"linear law {LINEAR_LAW_SLOPE:.3f} c",
    )
    if np.isfinite(slope):
        ax_f.plot(
            c_grid,
            slope * c_grid,
            ":",
            lw=1.2,
            color=WORKFLOW_COLORS["replace"],
            label=f"GRU fit {slope:.2f} ± {slope_se:.2f} c",
        )
    ax_f.axhline(gens, color="#999999", lw=0.6)
    ax_f.set_ylim(0, gens + 1.5)
    ax_f.set_xlim(0.5, c_max + 0.5)
    ax_f.set_xlabel("count of the word in the real training text")
    ax_f.set_ylabel("generation the word is first missing")
    ax_f.set_title(
        f"per-word forgetting (replace; grey line: last generation {gens}, later is censored)",
        fontsize=9,
    )
    ax_f.legend(loc="upper left")
    series.append(("median_forgotten_at[replace]", c_obs, t_obs, None))
    series.append(("unigram_median_forgotten_at", c_grid, uni, None))
    rows.append(Comparison("neural-lm", "forgetting_slope[replace]", None, slope, slope_se))
    # The unigram's slope by the same fit (same counts, same weights): the like-for-like
    # yardstick, since over a short horizon only the smallest counts have a median.
    w = med["pairs"].to_numpy()[ok].astype(float)
    t_uni = forgetting_generation(c_obs, n, 0.5) if c_obs.size else np.empty(0)
    uni_slope = float(np.sum(w * c_obs * t_uni) / np.sum(w * c_obs**2)) if c_obs.size else None

    for j in (1, 2, 3, 4):
        v = rep.values[f"distinct_{j}"].mean(axis=1)
        ax_d.plot(k, v, "o-", ms=3, lw=0.8, label=f"distinct {j}-grams")
        series.append((f"distinct_{j}[replace]", k, v, None))
    ax_d.set_xlabel("generation k")
    ax_d.set_ylabel("distinct n-grams / n-grams of the text")
    ax_d.set_title("n-gram diversity (replace; generation 0 is the real text)", fontsize=9)
    ax_d.legend(loc="lower right")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_v, ax_p, ax_f, ax_d):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(
        f"GRU word LM on {Path(corpus.source).name}: first {text.train.size + text.heldout.size:,}"
        f" tokens ({n:,} training, {text.heldout.size:,} held out, {text.m:,} words)",
        fontsize=10,
    )

    gap = results["replace"].values["vocab_frac"].mean(axis=1) - exact
    notes = [
        f"Corpus: {ctx.corpus_label or corpus.source}, its first {cfg['max_tokens'] or 'all'} "
        f"tokens (paper tokenizer), the last 10% held out; GRU {cfg['model']}, context 32, "
        f"Adam; device {device}; {gens} generations of {n:,} tokens; trials "
        + ", ".join(f"{wf} {t}" for wf, t in cfg["trials"].items())
        + f"; mix keeps {MIX_FRACTION:.0%} fresh real text each generation.",
        "Vocabulary retained (replace) minus the unigram's exact value, per generation: "
        + ", ".join(f"{x:+.3f}" for x in gap[1:])
        + ". The unigram line is a yardstick, not a theorem, for a network.",
        f"Median forgetting generation per real count: fitted slope {slope:.3g} ± {slope_se:.2g}"
        f" (bootstrap standard error) against the unigram's linear law {LINEAR_LAW_SLOPE:.3f}; "
        f"the same fit to the unigram's exact medians at the same counts gives "
        + (f"{uni_slope:.3g}" if uni_slope is not None else "nothing (no median observed)")
        + f" (only counts whose median falls within {gens} generations enter the fit: "
        + ", ".join(str(int(c)) for c in c_obs)
        + ").",
        f"Under mix the synthetic part of a generation is {1 - MIX_FRACTION:.0%} of the tokens, "
        "and a smaller sample shows fewer distinct words even without forgetting: its vocabulary"
        " curve is not comparable with replace's. Under accumulate and mix, generation 1 trains"
        " on real text only (the workflows' convention), so their losses start a generation "
        "later.",
        "A network never gives a word probability exactly 0, so a forgotten word can come back;"
        " the time reported is the first generation whose text lacks it (as for `forget`).",
    ]
    settings = {
        "corpus": ctx.corpus_label or corpus.source,
        "max_tokens": cfg["max_tokens"],
        "train_tokens": n,
        "heldout_tokens": int(text.heldout.size),
        "words": text.m,
        "generations": gens,
        "trials": cfg["trials"],
        "model": model.describe(),
        "mix_fraction": MIX_FRACTION,
        "seed": ctx.seed,
        "fitted_slope": slope,
        "fitted_slope_stderr": slope_se,
        "unigram_slope_same_fit": uni_slope,
    }
    return Outcome(series_table(series), rows, fig, notes, settings)


register(
    Experiment(
        "neural-lm",
        "A GRU language model trained on its own text: words forgotten vs the count law",
        "beyond the paper",
        "A word-level GRU trained on a WikiText prefix, then recursively on its own samples "
        "(replace, accumulate, mix): vocabulary retained against the exact unigram curve, "
        "held-out perplexity, and per-word forgetting generation against the real count.",
        run,
    )
)
