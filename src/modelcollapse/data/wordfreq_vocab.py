"""A real vocabulary without a corpus: word frequencies from the ``wordfreq`` package.

``wordfreq`` (Speer et al.) publishes the frequencies of several hundred thousand words per
language, pooled from Wikipedia, subtitles, news, books, web text and social media. Turning those
frequencies into counts for a corpus of a chosen size gives a realistic categorical start (heavy
Zipf tail, real rare words) for the unigram recursion. It is an optional extra:
``pip install 'modelcollapse[wordfreq]'``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from modelcollapse.errors import ConfigError

INSTALL_HINT = "pip install 'modelcollapse[wordfreq]'"
WORDLISTS = ("best", "large", "small")


def _wordfreq() -> Any:
    try:
        import wordfreq
    except ImportError:
        raise ConfigError(
            "wordfreq", "not installed", f"the optional extra: {INSTALL_HINT}"
        ) from None
    return wordfreq


def wordfreq_counts(
    lang: str = "en",
    total: int = 1_000_000,
    *,
    wordlist: str = "best",
    rng: np.random.Generator | None = None,
    top: int | None = None,
) -> tuple[list[str], np.ndarray]:
    """Word counts of a corpus of ``total`` tokens in language ``lang``.

    Parameters
    ----------
    lang : a language code that ``wordfreq`` knows (``"en"``, ``"fr"``, ...).
    total : corpus size in tokens (>= 1).
    wordlist : ``"best"`` (default), ``"large"`` or ``"small"`` (wordfreq's lists).
    rng : with a Generator, the counts are one draw C ~ Multinomial(total, f / sum f), i.e. the
        word counts of a random corpus of that size (a realistic tail of words seen once).
        Without one, counts are the expected values total * f_i / sum f, rounded by the largest
        remainder method so that they sum to ``total`` exactly (deterministic).
    top : keep only the ``top`` most frequent words before normalising.

    Returns
    -------
    (words, counts): the words with a positive count, most frequent first, and their counts.
    """
    wf = _wordfreq()
    if isinstance(total, bool) or not isinstance(total, (int, np.integer)) or total < 1:
        raise ConfigError("total", total, "an integer >= 1 (corpus size in tokens)")
    if wordlist not in WORDLISTS:
        raise ConfigError("wordlist", wordlist, f"one of: {', '.join(WORDLISTS)}")
    available = wf.available_languages(wordlist)
    if lang not in available:
        raise ConfigError("lang", lang, f"a wordfreq language: {', '.join(sorted(available))}")
    freq = wf.get_frequency_dict(lang, wordlist)
    words = list(freq)
    f = np.fromiter(freq.values(), dtype=float, count=len(words))
    order = np.argsort(-f, kind="stable")
    if top is not None:
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1:
            raise ConfigError("top", top, "an integer >= 1")
        order = order[:top]
    f = f[order]
    words = [words[i] for i in order]
    p = f / f.sum()
    if rng is not None:
        counts = rng.multinomial(int(total), p).astype(np.int64)
    else:
        exact = int(total) * p
        counts = np.floor(exact).astype(np.int64)
        short = int(total) - int(counts.sum())
        if short > 0:
            # Largest remainders first; ties broken by rank so the result is deterministic.
            extra = np.argsort(-(exact - counts), kind="stable")[:short]
            counts[extra] += 1
    keep = counts > 0
    order2 = np.argsort(-counts[keep], kind="stable")
    kept_words = [w for w, k in zip(words, keep, strict=True) if k]
    return [kept_words[i] for i in order2], counts[keep][order2]
