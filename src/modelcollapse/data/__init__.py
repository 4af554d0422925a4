"""Data: corpora, tokenisers, counts files, Zipf-Mandelbrot laws and word-frequency lists.

The lowest layer of the package: nothing here imports the simulation side.
"""

from modelcollapse.data.corpus import Corpus, count_tokens, iter_text, load_corpus, read_tokens
from modelcollapse.data.counts import read_counts, write_counts
from modelcollapse.data.tokenize import (
    TOKENIZERS,
    RegexTokenizer,
    get_tokenizer,
    paper_tokenize,
    whitespace_tokenize,
)
from modelcollapse.data.wordfreq_vocab import wordfreq_counts
from modelcollapse.data.zipf import empirical_zipf, zipf_mandelbrot

__all__ = [
    "TOKENIZERS",
    "Corpus",
    "RegexTokenizer",
    "count_tokens",
    "empirical_zipf",
    "get_tokenizer",
    "iter_text",
    "load_corpus",
    "paper_tokenize",
    "read_counts",
    "read_tokens",
    "whitespace_tokenize",
    "wordfreq_counts",
    "write_counts",
    "zipf_mandelbrot",
]
