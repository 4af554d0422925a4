"""Text corpora as integer token ids, read from UTF-8 files in pieces.

A :class:`Corpus` holds the token sequence as ``int32`` ids into its vocabulary, the vocabulary
ordered by decreasing count (ties in order of first appearance), and the count of every word.
Everything downstream (unigram forgetting, n-gram models) works on the ids with numpy.

Bad input is rejected with :class:`~modelcollapse.errors.ConfigError` before any work: a missing
path, an empty file, a binary file (a NUL byte, or bytes that are not UTF-8), and a file that
yields no tokens under the chosen tokeniser.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from modelcollapse.data.counts import write_counts
from modelcollapse.data.tokenize import Tokenizer, get_tokenizer, tokenizer_name
from modelcollapse.errors import ConfigError

#: Bytes read per piece. Pieces are cut at the last line break, so memory holds one piece of
#: text plus the growing token list, never two copies of the whole file.
CHUNK_BYTES = 1 << 22


def iter_text(path: str | os.PathLike, chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """Yield the text of a UTF-8 file in pieces that end at a line break (the last may not).

    A leading byte-order mark is dropped. Raises ConfigError for a missing or empty file and for
    binary content (a NUL byte or invalid UTF-8), naming the byte offset.
    """
    path = Path(path)
    label = f"corpus {str(path)!r}"
    if not path.exists():
        raise ConfigError(label, str(path), "an existing UTF-8 text file")
    if not path.is_file():
        raise ConfigError(label, str(path), "a file, not a directory")
    if path.stat().st_size == 0:
        raise ConfigError(label, "empty file", "a UTF-8 text file with at least one token")
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="strict")
    carry = ""
    offset = 0
    with path.open("rb") as handle:
        while True:
            raw = handle.read(chunk_bytes)
            final = not raw
            nul = raw.find(b"\x00")
            if nul >= 0:
                raise ConfigError(label, f"NUL byte at offset {offset + nul}", "a text file")
            try:
                text = carry + decoder.decode(raw, final=final)
            except UnicodeDecodeError as exc:
                raise ConfigError(
                    label, f"invalid UTF-8 at byte {offset + exc.start}", "a UTF-8 text file"
                ) from None
            offset += len(raw)
            if final:
                if text:
                    yield text
                return
            cut = max(text.rfind("\n"), text.rfind("\r"))
            if cut < 0:
                carry = text
            else:
                yield text[: cut + 1]
                carry = text[cut + 1 :]


def read_tokens(path: str | os.PathLike, tokenizer: str | Tokenizer | None = None) -> list[str]:
    """All tokens of a UTF-8 file under ``tokenizer`` (default: the paper's, see ``tokenize``)."""
    tok = get_tokenizer(tokenizer)
    tokens: list[str] = []
    for piece in iter_text(path):
        tokens.extend(tok(piece))
    if not tokens:
        raise ConfigError(
            f"corpus {str(path)!r}",
            "no tokens",
            f"text that yields at least one token with the {tokenizer_name(tok)!r} tokenizer",
        )
    return tokens


@dataclass(frozen=True, eq=False)
class Corpus:
    """A token sequence as ids into a vocabulary sorted by decreasing count.

    Attributes
    ----------
    vocab : tuple of str
        The distinct words; ``vocab[0]`` is the most frequent.
    ids : ndarray of int32
        The token sequence, ``vocab[ids[t]]`` is token t.
    counts : ndarray of int64
        ``counts[i]`` = occurrences of ``vocab[i]``; sums to ``len(ids)``.
    source : str
        Where the corpus came from (path, or a description), for provenance.
    """

    vocab: tuple[str, ...]
    ids: np.ndarray
    counts: np.ndarray
    source: str = ""
    tokenizer: str = "paper"
    _index: dict[str, int] | None = field(default=None, repr=False)

    @classmethod
    def from_tokens(
        cls, tokens: Iterable[str], *, source: str = "", tokenizer: str = "paper"
    ) -> Corpus:
        """Build ids and counts from a sequence of token strings."""
        first: dict[str, int] = {}
        # One dict lookup per token is the only per-token Python work; the rest is numpy.
        raw = np.fromiter((first.setdefault(t, len(first)) for t in tokens), dtype=np.int32)
        if raw.size == 0:
            raise ConfigError("corpus", source or "tokens", "at least one token")
        counts_first = np.bincount(raw, minlength=len(first)).astype(np.int64)
        # Decreasing count, ties by first appearance (a stable sort keeps first-seen order).
        order = np.argsort(-counts_first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        words = list(first)
        vocab = tuple(words[i] for i in order)
        ids = rank[raw].astype(np.int32)
        return cls(vocab, ids, counts_first[order], source, tokenizer)

    @classmethod
    def from_text(
        cls, text: str, tokenizer: str | Tokenizer | None = None, *, source: str = "<text>"
    ) -> Corpus:
        """Tokenise an in-memory string (same rules as a file)."""
        tok = get_tokenizer(tokenizer)
        tokens = tok(text)
        if not tokens:
            raise ConfigError(
                "corpus",
                source,
                f"text that yields tokens with the {tokenizer_name(tok)!r} tokenizer",
            )
        return cls.from_tokens(tokens, source=source, tokenizer=tokenizer_name(tok))

    @property
    def n_tokens(self) -> int:
        """Number of tokens (the n of the unigram experiment)."""
        return int(self.ids.size)

    @property
    def n_words(self) -> int:
        """Number of distinct words (the m of the unigram experiment)."""
        return len(self.vocab)

    def index(self, word: str) -> int:
        """The id of ``word`` (KeyError if absent)."""
        if self._index is None:
            object.__setattr__(self, "_index", {w: i for i, w in enumerate(self.vocab)})
        return self._index[word]  # type: ignore[index]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Token strings of a sequence of ids."""
        return [self.vocab[i] for i in ids]

    def write_counts(self, path: str | os.PathLike) -> None:
        """Write ``word<TAB>count`` lines, most frequent first (see ``data.counts``)."""
        write_counts(path, self.vocab, self.counts.tolist())

    def describe(self) -> dict:
        return {
            "source": self.source,
            "tokenizer": self.tokenizer,
            "tokens": self.n_tokens,
            "words": self.n_words,
            "words_seen_once": int(np.count_nonzero(self.counts == 1)),
        }


def load_corpus(path: str | os.PathLike, tokenizer: str | Tokenizer | None = None) -> Corpus:
    """Read and tokenise a UTF-8 text file into a :class:`Corpus`.

    Parameters
    ----------
    path : path of a UTF-8 text file (any size that fits in memory as token ids; it is read in
        pieces of 4 MiB).
    tokenizer : ``"paper"`` (default: lowercase, ``\\W+`` to space, split), ``"whitespace"``,
        ``"regex:PATTERN"`` or a callable.

    Examples
    --------
    On the WikiText-2 sample (Merity et al. 2016) shipped in ``../shared/data`` the paper's
    tokeniser gives 436,577 tokens and 19,919 distinct words.
    """
    tok = get_tokenizer(tokenizer)
    tokens = read_tokens(path, tok)
    return Corpus.from_tokens(tokens, source=str(path), tokenizer=tokenizer_name(tok))


def count_tokens(tokens: Iterable[str]) -> tuple[list[str], np.ndarray]:
    """Distinct tokens (most frequent first) and their counts."""
    corpus = Corpus.from_tokens(tokens)
    return list(corpus.vocab), corpus.counts
