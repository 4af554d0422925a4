"""Text benchmarks: unigram and bigram generations on the WikiText-2 sample, ours against plain
Python references, all in one run.

    .venv/bin/python benchmarks/bench_text.py [CORPUS] [--repeat R] [--tiny]

Unigram generation (one trial): the reference does what published code does with token
strings: ``collections.Counter`` to fit, ``Generator.choice`` over the vocabulary with the fitted
probabilities to draw n tokens, a Counter of the draws for the next fit. Ours draws the next count
vector C ~ Multinomial(n, C / n) (the categorical family's exact step, the same law) and updates
the per-word forgetting times (``modelcollapse.forgetting``).

Bigram generation: fit a maximum-likelihood bigram model and generate as many tokens as the
corpus, in sentences of at most 50 words started from a context drawn from the text. The plain
Python reference uses a dict of Counters and, per token, a bisection in precomputed cumulative
counts (the fastest pure-Python way to sample); ours is ``modelcollapse.families.ngram``.
"""

from __future__ import annotations

import argparse
import bisect
import os
import platform
import random
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from modelcollapse.data import load_corpus, read_tokens
from modelcollapse.families.ngram import fit_ngram
from modelcollapse.forgetting import forget

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikitext2-train-500k.txt"


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def reference_unigram_generation(tokens: list[str], rng: np.random.Generator) -> Counter:
    counts = Counter(tokens)
    vocab = list(counts)
    probs = np.array([counts[w] for w in vocab], dtype=float)
    probs /= probs.sum()
    sample = rng.choice(vocab, size=len(tokens), p=probs)
    return Counter(sample.tolist())


def reference_bigram_generation(tokens: list[str], rng: random.Random, max_words: int = 50):
    table: dict[str, Counter] = defaultdict(Counter)
    for a, b in zip(tokens, tokens[1:], strict=False):
        table[a][b] += 1
    sampler = {}
    for ctx, nxt in table.items():
        words = list(nxt)
        cum, total = [], 0
        for w in words:
            total += nxt[w]
            cum.append(total)
        sampler[ctx] = (words, cum, total)
    out: list[str] = []
    n = len(tokens)
    while len(out) < n:
        ctx = tokens[rng.randrange(n - 1)]
        for _ in range(max_words):
            entry = sampler.get(ctx)
            if entry is None:
                break
            words, cum, total = entry
            ctx = words[bisect.bisect_right(cum, rng.randrange(total))]
            out.append(ctx)
    return out[:n]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="2 generations, no long n-gram orders, targets not judged: checks that the script "
        "runs (tests; give it a small corpus)",
    )
    args = parser.parse_args(argv)
    if not Path(args.corpus).is_file():
        print(f"corpus not found: {args.corpus}", file=sys.stderr)
        return 2

    t = time.perf_counter()
    corpus = load_corpus(args.corpus)
    t_load = time.perf_counter() - t
    tokens = read_tokens(args.corpus)
    n, m = corpus.n_tokens, corpus.n_words
    gens = 2 if args.tiny else 10

    rng = np.random.default_rng(0)
    t_ref_uni = best_of(lambda: reference_unigram_generation(tokens, rng), args.repeat)
    # Per trial-generation cost of the whole forgetting loop (10 generations, 1 trial).
    t_uni = (
        best_of(
            lambda: forget(corpus.counts, generations=gens, trials=1, seed=0),
            args.repeat,
        )
        / gens
    )
    t_uni5 = (
        best_of(
            lambda: forget(corpus.counts, generations=gens, trials=5, seed=0),
            args.repeat,
        )
        / gens
    )

    def ours_bigram() -> None:
        model = fit_ngram(corpus.ids, 2, m)
        model.generate(n, np.random.default_rng(1))

    t_bigram = best_of(ours_bigram, args.repeat)
    t_fit = best_of(lambda: fit_ngram(corpus.ids, 2, m), args.repeat)
    prng = random.Random(0)
    t_ref_bigram = best_of(lambda: reference_bigram_generation(tokens, prng), 1)
    t_orders = {
        k: best_of(lambda k=k: fit_ngram(corpus.ids, k, m).generate(n, np.random.default_rng(2)), 1)
        for k in ((3,) if args.tiny else (3, 5, 16))
    }

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"corpus: {args.corpus}: {n:,} tokens, {m:,} words (read + tokenise {t_load:.2f} s)")
    print(f"best of {args.repeat} runs (reference bigram: 1 run)\n")
    rows = [
        ("unigram generation, plain Python (Counter + choice)", t_ref_uni, None),
        ("unigram generation, ours (1 trial)", t_uni, t_ref_uni / t_uni),
        ("unigram generation, ours (5 trials together)", t_uni5, 5 * t_ref_uni / t_uni5),
        ("bigram fit + generate, plain Python (dict + bisect)", t_ref_bigram, None),
        ("bigram fit + generate, ours", t_bigram, t_ref_bigram / t_bigram),
        ("  of which bigram fit", t_fit, None),
    ] + [(f"{k}-gram fit + generate, ours", v, None) for k, v in t_orders.items()]
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'seconds':>9}  speed-up")
    for name, sec, speedup in rows:
        extra = f"{speedup:8.0f}x" if speedup is not None else ""
        print(f"{name:<{width}}  {sec:9.4f}  {extra}")
    ok_uni = t_ref_uni / t_uni >= 20
    ok_bi = t_bigram < 2.0
    print(
        f"\nunigram >= 20x faster: {'yes' if ok_uni else 'NO'}; "
        f"bigram generation < 2 s: {'yes' if ok_bi else 'NO'}"
    )
    return 0 if args.tiny or (ok_uni and ok_bi) else 1


if __name__ == "__main__":
    raise SystemExit(main())
