"""n-gram language models on integer token ids, and their recursive training.

An order-n model trained by maximum likelihood predicts token w after the context
h = (w_1..w_{n-1}) with probability count(h, w) / count(h, .), the counts taken over the training
sequence. Recursive training (the n-gram experiment of Suresh, Thangaraj and Khandavally,
AISTATS 2025, on WikiText-2, Merity et al. 2016): each generation generates as many tokens as it
was trained on, as sentences of at most L words (default 50), each continuing an (n-1)-gram
context drawn from its training text, and the next generation is fitted to that text.

How the model is stored (no per-token Python, no dictionaries of tuples):

* every k-gram position gets a dense integer identity by k - 1 rounds of
  ``np.unique(rank_{k-1}[i] * V + token[i + k - 1], return_inverse=True)``, so contexts of any
  order up to 16 are single integers;
* the distinct n-grams, sorted by (context, next token), form a CSR table: ``indptr[h]`` to
  ``indptr[h + 1]`` are the continuations of context h, with their tokens and counts, and the
  global running sum of counts ``cum``;
* each distinct n-gram also stores the context that follows it (its last n - 1 tokens), so
  sampling moves from context to context by indexing, never by looking a tuple up.

Sampling one token for many sentences at once: with u uniform on the integers
[base[h], base[h] + total[h]), the n-gram ``searchsorted(cum, u, side="right")`` is drawn with
probability exactly count(h, w) / total[h] (integer arithmetic, no float renormalisation).
A sentence stops early at a context that was never continued in the training text (the one at
its very end and any that only lead there).

This family has no finite sufficient statistic and a state whose size changes between
generations: it runs on the generation loop as a per-trial model
(``modelcollapse.models.ngram.NGramFamily``); the entry point is
``modelcollapse.ngram_recursion.run_ngram``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError

#: Largest supported order.
MAX_ORDER = 16
#: Default longest sentence (words generated after the seed context).
DEFAULT_MAX_WORDS = 50
#: Metrics reported per generation, in order.
METRICS = ("vocab_frac", "vocab", "distinct_ngrams", "unigram_entropy")


def check_order(order: Any) -> int:
    """A valid n-gram order (1..16) or ConfigError."""
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)):
        raise ConfigError("order", order, f"an integer from 1 to {MAX_ORDER}")
    if not 1 <= order <= MAX_ORDER:
        raise ConfigError("order", order, f"an integer from 1 to {MAX_ORDER}")
    return int(order)


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    return int(value)


@dataclass(frozen=True, eq=False)
class NGramModel:
    """A fitted order-n maximum-likelihood model (see the module docstring for the layout).

    Attributes
    ----------
    order : n.
    vocab_size : V; token ids are in [0, V).
    train : the training token ids (int64).
    ctx_of_pos : context index of the (n-1)-gram starting at each position 0..T-n+1.
    indptr : CSR row pointers (contexts + 1), into the distinct-n-gram arrays.
    next_token, next_count, next_context : per distinct n-gram (sorted by context, then token):
        its last token, its count, and the context formed by its last n - 1 tokens.
    gram_context : the context (row) of each distinct n-gram.
    gram_first : a position where each distinct n-gram occurs.
    cum : running sum of ``next_count`` (int64).
    """

    order: int
    vocab_size: int
    train: np.ndarray
    ctx_of_pos: np.ndarray
    indptr: np.ndarray
    next_token: np.ndarray
    next_count: np.ndarray
    next_context: np.ndarray
    gram_context: np.ndarray
    gram_first: np.ndarray
    cum: np.ndarray
    _base: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    _total: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        edges = np.r_[0, self.cum][self.indptr]
        object.__setattr__(self, "_base", edges[:-1])
        object.__setattr__(self, "_total", np.diff(edges))

    # ---- sizes -------------------------------------------------------------------------
    @property
    def n_contexts(self) -> int:
        """Distinct (n-1)-grams of the training text (including one never continued)."""
        return int(self.indptr.size - 1)

    @property
    def n_ngrams(self) -> int:
        """Distinct n-grams of the training text."""
        return int(self.next_token.size)

    @property
    def n_positions(self) -> int:
        """Number of n-gram occurrences, T - n + 1."""
        return int(self.cum[-1])

    def context_totals(self) -> np.ndarray:
        """count(h, .) for every context h (0 for a context never continued)."""
        return self._total

    # ---- look-ups (for tests and inspection; O(T)) ---------------------------------------
    def context_index(self, context: Any) -> int:
        """Index of the context given as n - 1 token ids, or -1 if it is not in the text."""
        ctx = np.asarray(context, dtype=np.int64).ravel()
        if ctx.size != self.order - 1:
            raise ValueError(f"a context has {self.order - 1} tokens, not {ctx.size}")
        if ctx.size == 0:
            return 0
        windows = np.lib.stride_tricks.sliding_window_view(self.train, ctx.size)
        hit = np.flatnonzero(np.all(windows == ctx, axis=1))
        return int(self.ctx_of_pos[hit[0]]) if hit.size else -1

    def context_tokens(self, index: Any) -> np.ndarray:
        """The n - 1 token ids of context(s) ``index`` (shape (..., n - 1))."""
        idx = np.asarray(index)
        first = np.full(self.n_contexts, -1, dtype=np.int64)
        # The last position wins in fancy assignment order; any occurrence has the same tokens.
        first[self.ctx_of_pos] = np.arange(self.ctx_of_pos.size)
        pos = first[idx][..., None] + np.arange(self.order - 1)
        return self.train[pos]

    def conditional(self, context_index: int) -> tuple[np.ndarray, np.ndarray]:
        """(next tokens, probabilities) of the fitted conditional law after a context."""
        lo, hi = self.indptr[context_index], self.indptr[context_index + 1]
        c = self.next_count[lo:hi]
        return self.next_token[lo:hi], c / c.sum() if c.size else c.astype(float)

    def ngram_counts(self) -> dict[tuple[int, ...], int]:
        """All n-gram counts as a dict of id tuples (for small models and tests)."""
        pos = self.gram_first[:, None] + np.arange(self.order)
        grams = self.train[pos]
        return {
            tuple(int(t) for t in g): int(c) for g, c in zip(grams, self.next_count, strict=True)
        }

    # ---- sampling ------------------------------------------------------------------------
    def sample_next(
        self, contexts: np.ndarray, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """One next token for each context in ``contexts`` (which must all be continued), and
        the context each sentence moves to."""
        u = self._base[contexts] + rng.integers(0, self._total[contexts])
        g = np.searchsorted(self.cum, u, side="right")
        return self.next_token[g], self.next_context[g]

    def sample_seeds(self, size: int, rng: np.random.Generator) -> np.ndarray:
        """Contexts of ``size`` uniformly drawn n-gram occurrences of the training text: an
        (n-1)-gram context drawn from the text, always one with a continuation."""
        g = np.searchsorted(self.cum, rng.integers(0, self.n_positions, size=size), side="right")
        return self.gram_context[g]

    def generate_sentences(
        self,
        sentences: int,
        rng: np.random.Generator,
        max_words: int = DEFAULT_MAX_WORDS,
        seeds: np.ndarray | None = None,
        sample_next: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Generate ``sentences`` sentences in parallel, one position at a time.

        Returns (tokens of all sentences concatenated, length of each sentence, seed context of
        each sentence). Seed contexts are not part of the tokens (they belong to the training
        text); a sentence has ``max_words`` tokens unless it reaches a context that was never
        continued. ``sample_next(contexts, rng)`` draws the next tokens (default: this model's
        own :meth:`sample_next`; a sampler stage passes its transformed laws',
        ``models.ngram.SampledNGram``).
        """
        sample_next = self.sample_next if sample_next is None else sample_next
        if seeds is None:
            seeds = self.sample_seeds(sentences, rng)
        buf = np.full((sentences, max_words), -1, dtype=np.int64)
        rows = np.arange(sentences)
        cur = seeds
        for j in range(max_words):
            if j:
                ok = self._total[cur] > 0
                if not ok.all():
                    rows, cur = rows[ok], cur[ok]
                    if rows.size == 0:
                        break
            tok, cur = sample_next(cur, rng)
            buf[rows, j] = tok
        filled = buf >= 0
        # Each sentence fills a prefix of its row, so the row-major mask keeps sentence order.
        return buf[filled], filled.sum(axis=1), seeds

    def generate(
        self,
        n_tokens: int,
        rng: np.random.Generator,
        max_words: int = DEFAULT_MAX_WORDS,
        sample_next: Callable[..., tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> np.ndarray:
        """``n_tokens`` tokens as consecutive sentences of at most ``max_words`` words
        (``sample_next`` as for :meth:`generate_sentences`)."""
        parts: list[np.ndarray] = []
        produced = 0
        while produced < n_tokens:
            # Enough sentences for the remainder if none stops early; repeat for the shortfall.
            want = math.ceil((n_tokens - produced) / max_words)
            toks, _, _ = self.generate_sentences(want, rng, max_words, sample_next=sample_next)
            parts.append(toks)
            produced += toks.size
        return np.concatenate(parts)[:n_tokens]


def fit_ngram(tokens: Any, order: int, vocab_size: int | None = None) -> NGramModel:
    """Fit an order-``order`` maximum-likelihood n-gram model to a sequence of token ids.

    P(w | h) = count(h, w) / count(h, .) over the T - n + 1 n-grams of the sequence (no
    smoothing, no sentence padding: the text is one sequence).

    Parameters
    ----------
    tokens : 1-D sequence of non-negative integer ids.
    order : n, from 1 (unigram) to 16.
    vocab_size : V (default: largest id + 1).
    """
    n = check_order(order)
    ids = np.asarray(tokens)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ConfigError("tokens", f"array of dtype {ids.dtype}", "a 1-D array of integer ids")
    ids = ids.astype(np.int64, copy=False)
    T = ids.size
    if T < n:
        raise ConfigError("tokens", f"{T} tokens", f"at least order = {n} tokens")
    if ids.min() < 0:
        raise ConfigError("tokens", int(ids.min()), "ids must be >= 0")
    V = int(ids.max()) + 1 if vocab_size is None else int(vocab_size)
    if V <= ids.max():
        raise ConfigError("vocab_size", V, f"larger than the largest id ({int(ids.max())})")
    if T * float(V) >= 2.0**62:
        raise ConfigError("tokens", T, "fewer tokens (T * V must stay below 2^62)")

    # rank[i] identifies the k-gram at position i; k = 0: every position has the empty context.
    rank = np.zeros(T + 1, dtype=np.int64)
    distinct = False
    for k in range(1, n):
        if distinct:
            # All (k-1)-grams already differ, so position alone identifies the k-gram.
            rank = rank[: T - k + 1]
            continue
        key = rank[: T - k + 1] * V + ids[k - 1 :]
        _, rank = np.unique(key, return_inverse=True)
        rank = rank.astype(np.int64, copy=False).ravel()
        distinct = int(rank.max()) + 1 == rank.size
    ctx_of_pos = rank  # length T - n + 2
    n_ctx = int(ctx_of_pos.max()) + 1
    gram_key = ctx_of_pos[: T - n + 1] * V + ids[n - 1 :]
    keys, first, counts = np.unique(gram_key, return_index=True, return_counts=True)
    gram_context = keys // V
    indptr = np.searchsorted(gram_context, np.arange(n_ctx + 1))
    return NGramModel(
        order=n,
        vocab_size=V,
        train=ids,
        ctx_of_pos=ctx_of_pos,
        indptr=indptr,
        next_token=keys % V,
        next_count=counts.astype(np.int64),
        next_context=ctx_of_pos[first + 1],
        gram_context=gram_context,
        gram_first=first.astype(np.int64),
        cum=np.cumsum(counts, dtype=np.int64),
    )


def unigram_entropy(tokens: np.ndarray, vocab_size: int) -> float:
    """Shannon entropy (nats) of the empirical unigram distribution of ``tokens``."""
    c = np.bincount(tokens, minlength=vocab_size)
    p = c[c > 0] / tokens.size
    return float(-(p * np.log(p)).sum())
