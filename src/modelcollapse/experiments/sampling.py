"""How synthetic data is really made (beyond the paper): three experiments.

* ``regression-replace-accumulate``: OLS refitted on its own labels (Dohmatob, Feng and Kempe
  2024; Gerstgrasser et al. 2024). Replace: the test error grows linearly,
  k sigma^2 d/(T-d-1); accumulate: it stays bounded, sigma^2 d sum_j 1/(j (jT-d-1)) exactly at
  finite T, below (pi^2/6) sigma^2 d/(T-d-1). Fresh and fixed designs, all against exact values.
* ``temperature``: the WikiText unigram and bigram models sampled at T = 1, 0.9, 0.7 and with
  top-p = 0.95: how fast rare words are forgotten. Exact: the whole T = 1 unigram curve; and,
  since generation 1 of the unigram trains on real data (the corpus law as it is), its first
  generation is the T = 1 value for every setting (sum_i 1 - (1 - p_i)^n).
* ``curation``: a Gaussian loop sampled with a truncation psi (exact log-variance drift) or
  filtered by a reward centred at the truth (Ferbach et al. 2024), and a regression loop filtered
  by a verifier that keeps labels within a tolerance of the truth (Feng et al. 2024).
"""

from __future__ import annotations

import numpy as np

from modelcollapse.engine import simulate
from modelcollapse.experiments.base import (
    Comparison,
    Context,
    Experiment,
    Outcome,
    curve_rows,
    register,
    series_table,
)
from modelcollapse.experiments.plotting import COLORS, new_figure
from modelcollapse.families.categorical import Categorical
from modelcollapse.families.regression import Regression
from modelcollapse.samplers import Curation, Temperature, TopP, Truncation, Verifier
from modelcollapse.theory.categorical import expected_unique_fraction
from modelcollapse.theory.gaussian import expected_log_variance
from modelcollapse.theory.regression import (
    regression_accumulate_limit,
    regression_error_given_design,
    regression_test_error,
)
from modelcollapse.theory.sampling import (
    truncation_expected_log_variance,
    unique_after_one,
)

# ---- regression-replace-accumulate -----------------------------------------------------------
REG_D, REG_T, REG_SIGMA, REG_GENERATIONS = 10, 40, 1.0, 30


def run_regression(ctx: Context) -> Outcome:
    generations = 15 if ctx.scale == "quick" else REG_GENERATIONS
    trials = ctx.trials(2000, 50_000)
    checks = [k for k in (1, 5, 10, 20, 30) if k <= generations]
    fig, (ax, axf) = new_figure(2, width=12.0, height=4.3)
    series, rows = [], []
    kw = {"d": REG_D, "rows": REG_T, "sigma": REG_SIGMA}
    fixed_gram = Regression(d=REG_D, design="fixed").fixed_design(REG_T)[1]
    for panel, design in ((ax, "fresh"), (axf, "fixed")):
        for i, workflow in enumerate(("replace", "accumulate")):
            r = simulate(
                "regression",
                params={"d": REG_D, "sigma": REG_SIGMA, "design": design},
                n=REG_T,
                generations=generations,
                trials=trials,
                seed=ctx.seed + 10 * i + (design == "fixed"),
                workflow=workflow,
                metrics=["test_error_mean"],
                workers=ctx.workers,
            )
            k, v, se = r.metric("test_error_mean")
            if design == "fresh":
                exact = regression_test_error(k, workflow=workflow, **kw)
            else:
                exact = regression_error_given_design(
                    k, fixed_gram, sigma=REG_SIGMA, workflow=workflow
                )
            colour = f"C{i}"
            panel.errorbar(k[1:], v[1:], yerr=2 * se[1:], fmt="o", ms=3, lw=1, color=colour,
                           label=f"{workflow} (simulation ±2 s.e.)")
            panel.plot(k, exact, "-", color=COLORS["exact"] if i else colour, lw=1,
                       label=f"{workflow} exact")
            label = f"{workflow}, {design} design"
            series += [(f"test_error[{label}]", k, v, se), (f"exact[{label}]", k, exact, None)]
            rows += curve_rows("regression-replace-accumulate", f"test_error[{label}]", k, v,
                               checks, stderr=se, exact=exact)
        panel.set_xlabel("generation k")
        panel.set_ylabel("E‖w_k − w_0‖²")
        panel.legend(fontsize=7)
    limit = regression_accumulate_limit(**kw)
    ax.axhline(limit, color="grey", ls=":", lw=1, label="(π²/6) σ² d/(T−d−1)")
    ax.legend(fontsize=7)
    ax.set_title(f"fresh Gaussian design, d={REG_D}, T={REG_T}, σ={REG_SIGMA:g}")
    axf.set_title("fixed design (one X for every generation)")
    one = regression_test_error(1, **kw)
    notes = [
        f"One generation's OLS error is σ² d/(T−d−1) = {float(one):.4f}. Replace adds an "
        "independent error every generation, so the test error grows linearly without bound; "
        "accumulating all generations' data keeps it bounded.",
        "Fresh design, accumulate: the exact finite-T value σ² d Σ_j 1/(j (jT−d−1)) (from "
        "δ_k = δ_{k−1} + S_k⁻¹ X_kᵀ e_k and E[X_jᵀX_j | S_j] = S_j/j) lies below "
        f"σ² d/(T−d−1) Σ 1/j² and below the π²/6 line ({limit:.4f}), which it approaches as T "
        "grows.",
        "Fixed design: the same X every generation; the lines are exact given that X: "
        "σ² tr((XᵀX)⁻¹) times k (replace) or Σ 1/j² (accumulate, Gerstgrasser et al. 2024).",
        f"{trials} trials per curve, exact step (a Wishart matrix and a Gaussian error).",
    ]
    return Outcome(
        series_table(series),
        rows,
        fig,
        notes,
        {"d": REG_D, "T": REG_T, "sigma": REG_SIGMA, "generations": generations,
         "trials": trials},
    )


register(
    Experiment(
        "regression-replace-accumulate",
        "Linear regression on its own labels: replace vs accumulate",
        "beyond the paper (Dohmatob et al. 2024; Gerstgrasser et al. 2024)",
        "OLS refitted on labels of the previous generation: test error linear under replace, "
        "bounded under accumulate, against the exact finite-T values.",
        run_regression,
    )
)


# ---- temperature -----------------------------------------------------------------------------
SETTINGS = (
    ("T=1", None),
    ("T=0.9", Temperature(0.9)),
    ("T=0.7", Temperature(0.7)),
    ("top-p=0.95", TopP(0.95)),
)
#: 20 unigram trials (the paper used 5): with 5, a standard error is itself too noisy for a z test.
UNI_GENERATIONS, UNI_TRIALS, BI_GENERATIONS = 10, 20, 5


def run_temperature(ctx: Context) -> Outcome:
    from modelcollapse.experiments.text_unigram import text_corpus
    from modelcollapse.models.ngram import NGramFamily

    corpus = text_corpus(ctx, needs="the bigram model is trained on running text")
    counts = corpus.counts
    n, m = int(counts.sum()), int(np.count_nonzero(counts))
    p0 = counts / counts.sum()
    bi_gens = 2 if ctx.scale == "quick" else BI_GENERATIONS
    uni_trials = ctx.trials(UNI_TRIALS, 1000)
    fig, (ax_u, ax_b) = new_figure(2, width=12.0, height=4.3)
    series, rows = [], []
    k_uni = np.arange(UNI_GENERATIONS + 1)
    exact_t1 = np.asarray(expected_unique_fraction(k_uni, counts=counts, n=n), dtype=float)
    ax_u.plot(k_uni, exact_t1, "-", color=COLORS["exact"], lw=1, label="T=1 exact")
    series.append(("uniq_frac exact[T=1]", k_uni, exact_t1, None))
    bigram = NGramFamily(tokens=corpus.ids, order=2, vocab_size=len(corpus.vocab))
    for i, (label, stage) in enumerate(SETTINGS):
        colour = f"C{i}"
        r = simulate(Categorical(counts=counts), n=n, generations=UNI_GENERATIONS,
                     trials=uni_trials, seed=ctx.seed + i, sampler=stage,
                     metrics=["uniq_frac"], progress=False)
        k, v, se = r.metric("uniq_frac")
        ax_u.errorbar(k, v, yerr=2 * se, fmt="o-", ms=3, lw=0.8, color=colour, label=label)
        # Generation 1 trains on real data (the corpus law, untempered): the same exact value
        # for every setting, a check that the sampler starts with the first fitted model.
        first = unique_after_one(p0, n) / m
        ax_u.plot([1], [first], "x", ms=8, color=COLORS["exact"])
        series += [(f"uniq_frac[{label}]", k, v, se),
                   (f"uniq_frac exact k=1[{label}]", [1.0], [first], None)]
        rows.append(Comparison("temperature", f"unigram uniq_frac[{label}]", 1.0, float(v[1]),
                               float(se[1]), first, None))
        if stage is None:
            rows += curve_rows("temperature", "unigram uniq_frac[T=1]", k, v, [5, 10],
                               stderr=se, exact=exact_t1)
        b = simulate(bigram, n=bigram.n_tokens, generations=bi_gens, trials=1,
                     seed=ctx.seed + 100 + i, sampler=stage, metrics=["vocab_frac"],
                     progress=False)
        kb, vb, _ = b.metric("vocab_frac")
        ax_b.plot(kb, vb, "o-", ms=3, lw=0.8, color=colour, label=label)
        series.append((f"bigram vocab_frac[{label}]", kb, vb, None))
        rows.append(Comparison("temperature", f"bigram vocab_frac[{label}]", float(kb[-1]),
                               float(vb[-1]), None, None, None))
    ax_b.plot(k_uni[: bi_gens + 1], exact_t1[: bi_gens + 1], "-", color=COLORS["exact"], lw=1,
              label="unigram T=1 exact (reference)")
    for a, title in ((ax_u, f"unigram, {uni_trials} trials"), (ax_b, "bigram, 1 trial")):
        a.set_yscale("log")
        a.set_xlabel("generation k")
        a.set_ylabel("fraction of the vocabulary alive")
        a.set_title(f"{title}: {n:,} tokens, {m:,} words", fontsize=9)
        a.legend(fontsize=7)
    final = {s[0]: float(s[2][-1]) for s in series if s[0].startswith("uniq_frac[")}
    notes = [
        f"Corpus: {ctx.corpus_label or corpus.source} (paper tokenizer). Each generation samples "
        f"n = {n:,} tokens. The unigram's generation 0 is the corpus law itself, so generation "
        "1 trains on real data and the sampler acts from generation 2 on (the models' own "
        "samples); the bigram's generation 0 is the bigram model fitted to the corpus, whose "
        "samples are already synthetic, so its generation 1 is sampled through the stage too.",
        "Crosses: the exact first generation, Σ_i 1 − (1 − p_i)^n, the same for every setting; "
        "the black line is the exact T = 1 curve (the paper's unigram experiment).",
        "Any T < 1 compounds: without sampling noise the model after j tempered refits is "
        "p^(T^−j) renormalised, so at T = 0.7 the unigram of generation 10 (nine tempered "
        "refits) is about p^25 and only the most frequent words survive. Top-p drops the tail every "
        "generation (a word outside the nucleus is lost at once). Fraction alive at generation "
        "10: "
        + ", ".join(f"{key[10:-1]} {val:.3g}" for key, val in final.items())
        + ".",
        "The bigram's per-context laws are tempered the same way (count(h, w)^(1/T) "
        "renormalised); sentence seeds are drawn from the training text as they are.",
    ]
    return Outcome(series_table(series), rows, fig, notes,
                   {"corpus": ctx.corpus_label or corpus.source, "n_tokens": n,
                    "vocabulary": m, "unigram_trials": uni_trials,
                    "bigram_generations": bi_gens, "settings": [s[0] for s in SETTINGS]})


register(
    Experiment(
        "temperature",
        "Sampling temperature and top-p: forgetting of rare words on WikiText",
        "beyond the paper (Alemohammad et al. 2024: sampling bias)",
        "Unigram and bigram recursion sampled at T = 1, 0.9, 0.7 and top-p = 0.95.",
        run_temperature,
    )
)


# ---- curation ----------------------------------------------------------------------------------
G_N, G_GENERATIONS, PSI = 20, 50, 0.9
FRACTIONS = (0.8, 0.5)
V_D, V_T, V_GENERATIONS, TOLS = 5, 20, 20, (2.0, 1.0, 0.5)


def _centred(x: np.ndarray) -> np.ndarray:
    """Reward of a Gaussian sample: closeness to the true mean 0."""
    return -np.abs(x)


def run_curation(ctx: Context) -> Outcome:
    trials = ctx.trials(2000, 20_000)
    fig, (ax_g, ax_r) = new_figure(2, width=12.0, height=4.3)
    series, rows = [], []
    cases = [("none", None), (f"truncation ψ={PSI:g}", Truncation(PSI))] + [
        (f"reward, keep {f:g}", Curation(_centred, fraction=f, name="-|x - mu0|"))
        for f in FRACTIONS
    ]
    checks = [1, 10, 25, 50]
    for i, (label, stage) in enumerate(cases):
        r = simulate("gaussian", n=G_N, generations=G_GENERATIONS, trials=trials,
                     seed=ctx.seed + i, sampler=stage, metrics=["log_sigma2_mean"],
                     workers=ctx.workers)
        k, v, se = r.metric("log_sigma2_mean")
        colour = f"C{i}"
        ax_g.errorbar(k[1:], v[1:], yerr=2 * se[1:], fmt="o", ms=2, lw=0.8, color=colour,
                      label=label)
        series.append((f"log_sigma2[{label}]", k, v, se))
        exact = None
        if stage is None:
            exact = expected_log_variance(1.0, G_N, k)
        elif isinstance(stage, Truncation):
            exact = truncation_expected_log_variance(1.0, G_N, k, PSI)
        if exact is not None:
            ax_g.plot(k, exact, "-", color=colour, lw=1)
            series.append((f"log_sigma2 exact[{label}]", k, exact, None))
            rows += curve_rows("curation", f"gaussian log_sigma2[{label}]", k, v, checks,
                               stderr=se, exact=exact)
        else:
            rows.append(Comparison("curation", f"gaussian log_sigma2[{label}]",
                                   float(k[-1]), float(v[-1]), float(se[-1]), None, None))
    ax_g.set_xlabel("generation k")
    ax_g.set_ylabel("E[log Σ_k²]")
    ax_g.set_title(f"Gaussian n={G_N}: truncation and a reward filter (lines: exact)",
                   fontsize=9)
    ax_g.legend(fontsize=7)

    one = float(regression_test_error(1, d=V_D, rows=V_T))
    vcases = [("no verifier", None)] + [(f"verifier tol={t:g}σ", Verifier(t)) for t in TOLS]
    for i, (label, stage) in enumerate(vcases):
        r = simulate("regression", params={"d": V_D}, n=V_T, generations=V_GENERATIONS,
                     trials=trials, seed=ctx.seed + 50 + i, sampler=stage,
                     metrics=["test_error_mean"], workers=ctx.workers)
        k, v, se = r.metric("test_error_mean")
        colour = f"C{i}"
        ax_r.errorbar(k[1:], v[1:], yerr=2 * se[1:], fmt="o-", ms=2, lw=0.8, color=colour,
                      label=label)
        series.append((f"test_error[{label}]", k, v, se))
        if stage is None:
            exact = regression_test_error(k, d=V_D, rows=V_T)
            ax_r.plot(k, exact, "-", color=COLORS["exact"], lw=1, label="replace exact")
            rows += curve_rows("curation", "regression test_error[no verifier]", k, v,
                               [1, 10, 20], stderr=se, exact=exact)
        else:
            rows.append(Comparison("curation", f"regression test_error[{label}]",
                                   float(k[-1]), float(v[-1]), float(se[-1]), None, None))
    ax_r.set_yscale("log")
    ax_r.set_xlabel("generation k")
    ax_r.set_ylabel("E‖w_k − w_0‖²")
    ax_r.set_title(f"OLS d={V_D}, T={V_T}, replace: a verifier on the labels", fontsize=9)
    ax_r.legend(fontsize=7)
    last = {s[0]: float(s[2][-1]) for s in series if "exact" not in s[0]}
    notes = [
        "Gaussian: sampling with σ scaled by ψ adds 2 ln ψ to the log-variance drift, exactly "
        "(the line); a filter that keeps the samples closest to the true mean removes spread "
        "every generation, so the variance collapses much faster: curation by a reward for "
        "typical samples speeds collapse. E[log Σ²] at generation "
        f"{G_GENERATIONS}: " + ", ".join(
            f"{key[11:-1]} {val:.2f}" for key, val in last.items() if key.startswith("log_")
        ) + ".",
        "Regression: a verifier that keeps only labels within tol of the truth x·w_0 filters "
        "out both the label noise and the previous model's error, so the error stops growing: "
        f"at generation {V_GENERATIONS} it is "
        + ", ".join(
            f"{key[11:-1]} {val:.3g}" for key, val in last.items() if key.startswith("test_")
        )
        + f" (one unfiltered generation: {one:.3f}). A judge that checks against the truth "
        "stops collapse; a reward for typical samples hastens the loss of diversity.",
        "Curated loops run on the sample path (candidates drawn, scored, kept); there is no "
        "exact value for them, so only the unfiltered and truncated curves enter the verdict.",
        f"{trials} trials per curve.",
    ]
    return Outcome(series_table(series), rows, fig, notes,
                   {"gaussian_n": G_N, "psi": PSI, "fractions": list(FRACTIONS),
                    "regression_d": V_D, "regression_T": V_T, "tolerances": list(TOLS),
                    "trials": trials})


register(
    Experiment(
        "curation",
        "Curated loops: does filtering stop collapse or speed it?",
        "beyond the paper (Ferbach et al. 2024; Feng et al. 2024)",
        "A Gaussian loop with truncation or a reward filter, and a regression loop with a "
        "verifier on its labels.",
        run_curation,
    )
)

