"""n-gram models on token ids: counts checked by hand and against a plain-Python reference,
sampled transitions against the fitted conditional laws, generated n-grams always present in the
training text, and the recursion's metrics."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from modelcollapse.data import load_corpus
from modelcollapse.errors import ConfigError
from modelcollapse.families.ngram import MAX_ORDER, fit_ngram
from modelcollapse.ngram_recursion import run_ngram

from conftest import ALPHA

A, B, C, D = 0, 1, 2, 3


def reference_counts(ids, n):
    return Counter(tuple(ids[i : i + n]) for i in range(len(ids) - n + 1))


def test_bigram_counts_by_hand():
    # "a b a b c a b": bigrams ab ba ab bc ca ab
    ids = [A, B, A, B, C, A, B]
    m = fit_ngram(ids, 2)
    assert m.ngram_counts() == {(A, B): 3, (B, A): 1, (B, C): 1, (C, A): 1}
    assert m.n_ngrams == 4 and m.n_positions == 6 and m.n_contexts == 3
    tok, p = m.conditional(m.context_index([A]))
    assert tok.tolist() == [B] and p.tolist() == [1.0]
    tok, p = m.conditional(m.context_index([B]))
    # b is followed by a once and by c once; the final b has no continuation.
    assert dict(zip(tok.tolist(), p.tolist(), strict=True)) == {A: 0.5, C: 0.5}
    assert m.context_totals()[m.context_index([B])] == 2
    assert m.context_index([D]) == -1


def test_trigram_and_unigram_counts_by_hand():
    ids = [A, B, A, B, C, A, B]
    m3 = fit_ngram(ids, 3)
    assert m3.ngram_counts() == {
        (A, B, A): 1,
        (B, A, B): 1,
        (A, B, C): 1,
        (B, C, A): 1,
        (C, A, B): 1,
    }
    tok, p = m3.conditional(m3.context_index([A, B]))
    assert dict(zip(tok.tolist(), p.tolist(), strict=True)) == {A: 0.5, C: 0.5}
    m1 = fit_ngram(ids, 1)
    assert m1.ngram_counts() == {(A,): 3, (B,): 3, (C,): 1}
    assert m1.n_contexts == 1


def test_next_context_is_the_suffix_of_each_ngram():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, 400)
    for n in (2, 3, 5):
        m = fit_ngram(ids, n)
        grams = m.train[m.gram_first[:, None] + np.arange(n)]
        assert np.array_equal(m.context_tokens(m.next_context), grams[:, 1:])
        assert np.array_equal(m.context_tokens(m.gram_context), grams[:, :-1])


@settings(max_examples=150, deadline=None)
@given(
    ids=st.lists(st.integers(0, 5), min_size=1, max_size=60),
    n=st.integers(1, 6),
)
def test_counts_match_a_plain_python_reference(ids, n):
    if len(ids) < n:
        with pytest.raises(ConfigError):
            fit_ngram(ids, n)
        return
    assert fit_ngram(ids, n).ngram_counts() == reference_counts(ids, n)


@pytest.mark.parametrize("n", [7, 12, MAX_ORDER])
def test_high_orders_on_repetitive_and_random_text(n):
    rng = np.random.default_rng(n)
    periodic = np.tile(rng.integers(0, 9, 23), 20)  # long repeats: contexts never all distinct
    noisy = rng.integers(0, 9, 500)  # short contexts become all distinct early
    for ids in (periodic, noisy, np.r_[periodic, noisy]):
        m = fit_ngram(ids, n)
        assert m.ngram_counts() == reference_counts(ids.tolist(), n)
        assert m.next_count.sum() == ids.size - n + 1


def test_sampled_transitions_follow_the_fitted_conditionals():
    """Chi-square goodness of fit of 20,000 sampled next tokens per context to the fitted
    conditional law, for every context of a bigram and a trigram model of a random text.

    False failures: Bonferroni over all contexts of both models (about 40) at a total of 1e-4.
    Power: with 20,000 draws, a probability off by 0.02 from 0.25 (e.g. an off-by-one in the
    cumulative counts) gives a chi-square contribution of about 40 on its own, far beyond the
    critical value (about 30 for 3 degrees of freedom).
    """
    rng_text = np.random.default_rng(1)
    # A Markov text with uneven transition probabilities over 4 symbols.
    P = np.array(
        [[0.1, 0.6, 0.2, 0.1], [0.3, 0.1, 0.5, 0.1], [0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]]
    )
    ids = [0]
    for _ in range(3000):
        ids.append(int(rng_text.choice(4, p=P[ids[-1]])))
    models = [fit_ngram(ids, 2), fit_ngram(ids, 3)]
    contexts = [np.flatnonzero(m.context_totals() > 0) for m in models]
    comparisons = sum(c.size for c in contexts)
    rng = np.random.default_rng(2)
    draws = 20_000
    for m, ctxs in zip(models, contexts, strict=True):
        for h in ctxs:
            tokens, probs = m.conditional(h)
            sampled, nxt = m.sample_next(np.full(draws, h), rng)
            assert np.isin(sampled, tokens).all()
            observed = np.array([np.count_nonzero(sampled == t) for t in tokens])
            if tokens.size > 1:
                _, pvalue = stats.chisquare(observed, probs * draws)
                assert pvalue > ALPHA / comparisons, (h, observed, probs * draws)
            # The next context is the suffix (context minus its first token, plus the token).
            expect = np.c_[np.broadcast_to(m.context_tokens(h)[1:], (draws, m.order - 2)), sampled]
            assert np.array_equal(m.context_tokens(nxt), expect)


def test_seed_contexts_are_drawn_from_the_text():
    """Seeds are the contexts of uniformly drawn n-gram occurrences: chi-square against
    count(h, .) / (T - n + 1); one comparison at 1e-4. Power: 50,000 draws over 4 contexts detect
    a probability off by 0.01."""
    rng = np.random.default_rng(3)
    ids = rng.choice(4, size=2000, p=[0.4, 0.3, 0.2, 0.1])
    m = fit_ngram(ids, 2)
    seeds = m.sample_seeds(50_000, rng)
    totals = m.context_totals()
    observed = np.bincount(seeds, minlength=m.n_contexts)
    keep = totals > 0
    _, pvalue = stats.chisquare(observed[keep], totals[keep] / totals.sum() * 50_000)
    assert pvalue > ALPHA
    assert np.all(totals[seeds] > 0)


def _all_ngrams_in(model_train, sentences_with_seeds, n):
    train = set(reference_counts(model_train.tolist(), n))
    for seq in sentences_with_seeds:
        for i in range(len(seq) - n + 1):
            assert tuple(seq[i : i + n]) in train, seq[i : i + n]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_every_generated_ngram_is_in_the_training_text(n):
    rng = np.random.default_rng(10 + n)
    ids = np.tile(rng.integers(0, 30, 97), 5)[:400] if n > 2 else rng.integers(0, 30, 400)
    ids = np.r_[ids, rng.integers(0, 30, 80)]
    m = fit_ngram(ids, n)
    tokens, lengths, seeds = m.generate_sentences(300, rng, max_words=20)
    assert lengths.sum() == tokens.size and np.all((lengths >= 1) & (lengths <= 20))
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    seqs = [
        list(m.context_tokens(s)) + tokens[a : a + k].tolist()
        for s, a, k in zip(seeds, starts, lengths, strict=True)
    ]
    _all_ngrams_in(ids, seqs, n)


def test_sentences_stop_at_contexts_never_continued():
    m = fit_ngram([A, B, C, D], 2)
    tokens, lengths, _ = m.generate_sentences(
        3, np.random.default_rng(0), max_words=10, seeds=np.array([m.context_index([A])] * 3)
    )
    assert lengths.tolist() == [3, 3, 3] and tokens.tolist() == [B, C, D] * 3
    out = m.generate(50, np.random.default_rng(1), max_words=10)
    assert out.size == 50  # short sentences are made up for by more sentences


def test_recursion_metrics_and_reproducibility():
    rng = np.random.default_rng(4)
    ids = rng.zipf(1.6, size=3000) % 400
    a = run_ngram(ids, order=2, generations=6, trials=3, seed=9, max_words=20)
    b = run_ngram(ids, order=2, generations=6, trials=3, seed=9, max_words=20)
    for name, v in a.values.items():
        assert v.shape == (7, 3)
        assert np.array_equal(v, b.values[name]), name
    frac = a.values["vocab_frac"]
    assert np.all(frac[0] == 1.0)
    # A word absent from a generation's text can never come back.
    assert np.all(np.diff(a.values["vocab"], axis=0) <= 0)
    assert a.values["distinct_ngrams"][0, 0] == fit_ngram(ids, 2).n_ngrams
    assert not np.array_equal(frac[:, 0], frac[:, 1])  # trials use different streams
    assert all(s.size == 200 for s in a.samples) and len(a.samples) == 7
    summary = a.summary()
    assert len(summary) == 7 * 4 and np.all(np.isfinite(summary["stderr"]))
    assert len(a.generation_table()) == 7


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (([0, 1, 2], 0), "order"),
        (([0, 1, 2], MAX_ORDER + 1), "order"),
        (([0, 1, 2], 2.0), "order"),
        (([0, 1], 3), "tokens"),
        (([0, -1, 2], 2), "tokens"),
        ((np.array([0.5, 1.0]), 1), "tokens"),
    ],
)
def test_bad_input(args, field):
    with pytest.raises(ConfigError, match=f"invalid {field}"):
        fit_ngram(*args)
    with pytest.raises(ConfigError):
        run_ngram(args[0], order=args[1], generations=1)


def test_wikitext_bigram_generation(wikitext_path):
    """One bigram generation on the WikiText sample: as many tokens as the corpus, and every
    bigram inside a sentence is a bigram of the corpus."""
    corpus = load_corpus(wikitext_path)
    m = fit_ngram(corpus.ids, 2, corpus.n_words)
    assert m.n_positions == corpus.n_tokens - 1
    rng = np.random.default_rng(0)
    out = m.generate(corpus.n_tokens, rng)
    assert out.size == corpus.n_tokens
    tokens, lengths, seeds = m.generate_sentences(2000, rng)
    V = corpus.n_words
    train_keys = np.unique(corpus.ids[:-1].astype(np.int64) * V + corpus.ids[1:])
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    first = m.context_tokens(seeds)[:, 0].astype(np.int64) * V + tokens[starts]
    inside = np.ones(tokens.size, dtype=bool)
    inside[starts] = False
    within = tokens[:-1].astype(np.int64) * V + tokens[1:]
    assert np.isin(first, train_keys).all()
    assert np.isin(within[inside[1:]], train_keys).all()
