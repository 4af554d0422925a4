"""Tokenisers on tricky text: unicode, digits, underscores, empty lines, user regexes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelcollapse.data.tokenize import (
    RegexTokenizer,
    get_tokenizer,
    paper_tokenize,
    tokenizer_name,
    whitespace_tokenize,
)
from modelcollapse.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Café CRÈME brûlée", ["café", "crème", "brûlée"]),
        ("Senjō no 戦場のヴァルキュリア3 !", ["senjō", "no", "戦場のヴァルキュリア3"]),
        ("Straße, ÜBER-Größe", ["straße", "über", "größe"]),
        ("In 2011, 3.5 million (¾)", ["in", "2011", "3", "5", "million", "¾"]),
        ("foo_bar __init__ a-b _", ["foo_bar", "__init__", "a", "b", "_"]),
        ("role @-@ playing <unk> game", ["role", "playing", "unk", "game"]),
        ("don't", ["don", "t"]),
        ("\n\n   \n\t\n", []),
        ("", []),
        ("a\n\n\nb\r\nc", ["a", "b", "c"]),
        ("ＦＵＬＬ width", ["ｆｕｌｌ", "width"]),
        ("x\u00a0y\u2003z", ["x", "y", "z"]),  # no-break and em spaces are non-word
    ],
)
def test_paper_tokeniser(text, tokens):
    assert paper_tokenize(text) == tokens
    # It is literally the paper's recipe.
    assert tokens == re.sub(r"\W+", " ", text.lower()).split()


def test_whitespace_tokeniser_keeps_case_and_punctuation():
    assert whitespace_tokenize("Hello, World!\tfoo_bar\n\n 3.5 ") == [
        "Hello,",
        "World!",
        "foo_bar",
        "3.5",
    ]
    assert whitespace_tokenize("\n \n") == []


def test_regex_tokeniser():
    tok = get_tokenizer("regex:[a-z]+")
    assert tok("abc DEF ghi1jk") == ["abc", "ghi", "jk"]
    # Groups do not turn tokens into tuples; empty matches are dropped.
    assert get_tokenizer(r"regex:(\w+)('s)?")("John's cat") == ["John's", "cat"]
    assert get_tokenizer("regex:a*")("baab a") == ["aa", "a"]
    assert RegexTokenizer(r"\w+", lowercase=True)("Ab CD") == ["ab", "cd"]
    # Line by line: a match never spans a line break.
    assert get_tokenizer(r"regex:a\s+b")("a\nb a b") == ["a b"]


@pytest.mark.parametrize("spec", ["regex:(", "regex:", "nltk", 3])
def test_bad_tokeniser_specs(spec):
    with pytest.raises(ConfigError, match="tokenizer"):
        get_tokenizer(spec)


def test_resolution_and_names():
    assert get_tokenizer() is paper_tokenize
    assert get_tokenizer("paper") is paper_tokenize
    assert get_tokenizer("whitespace") is whitespace_tokenize
    assert tokenizer_name(get_tokenizer("regex:\\d+")) == "regex:\\d+"
    assert tokenizer_name(paper_tokenize) == "paper"

    def custom(text: str) -> list[str]:
        return list(text)

    assert get_tokenizer(custom) is custom


_text = st.text(alphabet=st.sampled_from(list("ab_Z9 \t\n\r,.-é語")) | st.characters(), max_size=60)


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(_text, max_size=5))
def test_tokenising_in_pieces_cut_at_line_breaks_gives_the_same_tokens(parts):
    """Corpora are read in pieces ending at a line break: that must not change the tokens."""
    text = "\n".join(parts)
    for spec in ("paper", "whitespace", r"regex:\w+"):
        tok = get_tokenizer(spec)
        pieced = [t for part in parts for t in tok(part)]
        assert tok(text) == pieced, spec
