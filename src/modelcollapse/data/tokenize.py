"""Tokenisers: text to a list of word strings.

The default is the one used for the unigram experiment of Suresh, Thangaraj and Khandavally
(AISTATS 2025): lowercase the text, replace every run of non-word characters (regex ``\\W+``,
Unicode-aware, so letters of any script, digits and the underscore are word characters) by one
space, and split on whitespace. Two others are offered: plain whitespace splitting, and a user
regular expression whose matches are the tokens.

A tokeniser is a callable ``str -> list[str]``. Corpora are read in pieces that end at a line
break (``modelcollapse.data.corpus``), so a tokeniser must give the same tokens whether a text is
passed whole or line by line: the two built-in ones do by construction (a newline is both a
non-word character and whitespace), and a user regex is applied to each line separately, so its
tokens never span a line break.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from modelcollapse.errors import ConfigError

Tokenizer = Callable[[str], list[str]]

_NON_WORD = re.compile(r"\W+")

#: Names accepted by :func:`get_tokenizer` (besides ``"regex:PATTERN"``).
TOKENIZERS = ("paper", "whitespace")


def paper_tokenize(text: str) -> list[str]:
    """Lowercase, turn every run of non-word characters into a space, split on whitespace.

    This is ``re.sub(r"\\W+", " ", text.lower()).split()``, the tokeniser of the paper's
    WikiText experiment. ``"Don't stop_me now, 2024!"`` gives ``["don", "t", "stop_me", "now",
    "2024"]``.
    """
    return _NON_WORD.sub(" ", text.lower()).split()


def whitespace_tokenize(text: str) -> list[str]:
    """Split on runs of whitespace; no lowercasing, punctuation stays attached to words."""
    return text.split()


@dataclass(frozen=True)
class RegexTokenizer:
    """Tokens are the non-empty matches of ``pattern`` in each line (optionally lowercased).

    With capturing groups, the whole match is still the token (``re.finditer``, group 0), so a
    user pattern such as ``(\\w+)('s)?`` does not silently produce tuples.
    """

    pattern: str
    lowercase: bool = False

    def __post_init__(self) -> None:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ConfigError("tokenizer regex", self.pattern, f"a valid regex ({exc})") from None
        object.__setattr__(self, "_compiled", compiled)

    def __call__(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        finditer = self._compiled.finditer  # type: ignore[attr-defined]
        return [tok for line in text.splitlines() for m in finditer(line) if (tok := m.group(0))]


def get_tokenizer(spec: str | Tokenizer | None = None) -> Tokenizer:
    """Resolve a tokeniser: ``"paper"`` (default), ``"whitespace"``, ``"regex:PATTERN"``
    (matches of PATTERN are the tokens), or any callable ``str -> list[str]``."""
    if spec is None or spec == "paper":
        return paper_tokenize
    if callable(spec):
        return spec
    if not isinstance(spec, str):
        raise ConfigError("tokenizer", spec, "paper | whitespace | regex:PATTERN")
    if spec == "whitespace":
        return whitespace_tokenize
    if spec.startswith("regex:"):
        pattern = spec[len("regex:") :]
        if not pattern:
            raise ConfigError("tokenizer", spec, "regex:PATTERN with a non-empty PATTERN")
        return RegexTokenizer(pattern)
    raise ConfigError("tokenizer", spec, "paper | whitespace | regex:PATTERN")


def tokenizer_name(tok: Tokenizer) -> str:
    """A description of a tokeniser for run.json."""
    if tok is paper_tokenize:
        return "paper"
    if tok is whitespace_tokenize:
        return "whitespace"
    if isinstance(tok, RegexTokenizer):
        return f"regex:{tok.pattern}"
    return getattr(tok, "__qualname__", type(tok).__name__)
