"""Corpora from files (streamed, bad input rejected), counts files, Zipf-Mandelbrot laws and the
optional word-frequency and Hugging Face sources."""

from __future__ import annotations

import sys
from collections import Counter

import numpy as np
import pytest

from modelcollapse.data import (
    Corpus,
    count_tokens,
    empirical_zipf,
    iter_text,
    load_corpus,
    read_counts,
    read_tokens,
    write_counts,
    zipf_mandelbrot,
)
from modelcollapse.errors import ConfigError

TRICKY = "Zoë's café: 2 cafés, 3 CAFÉ!\n\n戦場の3 foo_bar\r\nthe the THE\n— «quoted» —\n"


def test_corpus_from_file(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(TRICKY, encoding="utf-8")
    corpus = load_corpus(path)
    tokens = read_tokens(path)
    assert corpus.decode(corpus.ids) == tokens
    assert tokens[:4] == ["zoë", "s", "café", "2"]
    assert corpus.n_tokens == len(tokens) == int(corpus.counts.sum())
    assert dict(zip(corpus.vocab, corpus.counts.tolist(), strict=True)) == Counter(tokens)
    # Most frequent first; ties in order of first appearance.
    assert corpus.vocab[0] == "the" and corpus.counts[0] == 3
    assert corpus.vocab[1] == "café"  # "café" (twice) before the others seen once or twice
    assert np.all(np.diff(corpus.counts) <= 0)
    assert corpus.index("foo_bar") == corpus.vocab.index("foo_bar")
    assert corpus.describe()["words"] == len(set(tokens))


def test_other_tokenisers_on_files(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text(TRICKY, encoding="utf-8")
    assert load_corpus(path, "whitespace").vocab.count("THE") == 1
    assert read_tokens(path, r"regex:\d+") == ["2", "3", "3"]


def test_streaming_in_small_pieces_splits_multibyte_characters_safely(tmp_path):
    text = ("ligne été 語 " * 7 + "\n") * 30 + "last line without newline ü"
    path = tmp_path / "c.txt"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # with a byte-order mark
    for chunk in (1, 2, 3, 5, 64, 1 << 20):
        pieces = list(iter_text(path, chunk_bytes=chunk))
        assert "".join(pieces) == text, chunk
        # Every piece but the last ends at a line break, so tokenising pieces is exact.
        assert all(p.endswith(("\n", "\r")) for p in pieces[:-1])
    assert read_tokens(path)[-1] == "ü"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"hello\x00world", "NUL byte at offset 5"),
        (b"caf\xe9 au lait", "invalid UTF-8 at byte 3"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "NUL byte"),
        (b"!!! ... --- \n\n ,,, @-@", "no tokens"),
        (b"   \n\n\t", "no tokens"),
    ],
)
def test_bad_corpus_files(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="corpus") as info:
        load_corpus(path)
    assert message in str(info.value)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="existing"):
        load_corpus(tmp_path / "nope.txt")
    with pytest.raises(ConfigError, match="directory"):
        load_corpus(tmp_path)


def test_counts_round_trip(tmp_path):
    words = ["the", "café", "戦場", "foo_bar", "x y", "#not-a-comment-inside"]
    counts = [10, 3, 2, 1, 1, 0]
    path = tmp_path / "counts.tsv"
    write_counts(path, words, counts)
    back_words, back_counts = read_counts(path)
    assert back_words == words
    assert back_counts.tolist() == counts
    assert back_counts.dtype == np.int64
    with pytest.raises(ConfigError, match="tabs or newlines"):
        write_counts(tmp_path / "bad.tsv", ["a\tb"], [1])
    assert not (tmp_path / "bad.tsv").exists()


def test_corpus_counts_file_round_trip(tmp_path):
    corpus = Corpus.from_text(TRICKY)
    path = tmp_path / "counts.tsv"
    corpus.write_counts(path)
    words, counts = read_counts(path)
    assert tuple(words) == corpus.vocab
    assert np.array_equal(counts, corpus.counts)
    assert count_tokens(["b", "a", "b"]) == (["b", "a"], pytest.approx(np.array([2, 1])))


def test_wikitext_sample_size(wikitext_path):
    """The paper's tokeniser on the WikiText-2 sample (SPEC.md, note to section 5)."""
    corpus = load_corpus(wikitext_path)
    assert corpus.n_tokens == 436_577
    assert corpus.n_words == 19_919
    assert int(np.count_nonzero(corpus.counts == 1)) == 4_378
    assert corpus.vocab[:3] == ("the", "of", "unk")


# ---- Zipf-Mandelbrot --------------------------------------------------------------------------


def test_zipf_mandelbrot_formula():
    p = zipf_mandelbrot(4, 2.0, 1.0)
    w = 1.0 / np.array([2.0, 3.0, 4.0, 5.0]) ** 2
    assert np.allclose(p, w / w.sum(), rtol=1e-14)
    assert np.allclose(zipf_mandelbrot(5, 0.0), 0.2)
    p = zipf_mandelbrot(1000, 1.0, 2.7)
    assert p.sum() == pytest.approx(1.0, abs=1e-12) and np.all(np.diff(p) < 0)
    # Huge exponents do not underflow to an all-zero vector.
    p = zipf_mandelbrot(10, 400.0)
    assert p[0] == pytest.approx(1.0) and np.all(np.isfinite(p))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"m": 0, "a": 1.0}, "m"),
        ({"m": 2.5, "a": 1.0}, "m"),
        ({"m": 10, "a": -1.0}, "a"),
        ({"m": 10, "a": float("nan")}, "a"),
        ({"m": 10, "a": 1.0, "b": -1.0}, "b"),
    ],
)
def test_zipf_rejects_bad_parameters(kwargs, field):
    with pytest.raises(ConfigError, match=f"invalid {field}"):
        zipf_mandelbrot(**kwargs)


def test_empirical_zipf():
    rng = np.random.default_rng(5)
    counts = empirical_zipf(1000, 1.0, 2.7, 1000, rng)
    assert counts.sum() == 1000 and np.all(counts > 0)
    assert counts.size < 1000  # the paper's m is the number of symbols seen
    again = empirical_zipf(1000, 1.0, 2.7, 1000, np.random.default_rng(5))
    assert np.array_equal(counts, again)
    full = empirical_zipf(50, 2.0, 5.0, 10, np.random.default_rng(1), drop_unseen=False)
    assert full.size == 50 and full.sum() == 10


# ---- optional sources ---------------------------------------------------------------------------


def test_wordfreq_counts():
    pytest.importorskip("wordfreq", reason="wordfreq (optional extra) is not installed")
    from modelcollapse.data import wordfreq_counts

    words, counts = wordfreq_counts("en", 100_000)
    assert counts.sum() == 100_000 and words[0] == "the"
    assert np.all(np.diff(counts) <= 0) and np.all(counts > 0)
    words2, counts2 = wordfreq_counts("en", 100_000, rng=np.random.default_rng(0))
    assert counts2.sum() == 100_000 and len(words2) == len(counts2)
    assert len(wordfreq_counts("en", 50, top=20)[0]) <= 20
    with pytest.raises(ConfigError, match="lang"):
        wordfreq_counts("xx-nonexistent", 10)
    with pytest.raises(ConfigError, match="total"):
        wordfreq_counts("en", 0)


def test_missing_optional_packages_give_install_hints(monkeypatch):
    from modelcollapse.data import hf, wordfreq_vocab

    monkeypatch.setitem(sys.modules, "wordfreq", None)
    with pytest.raises(ConfigError, match=r"pip install 'modelcollapse\[wordfreq\]'"):
        wordfreq_vocab.wordfreq_counts("en", 10)
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(ConfigError, match=r"pip install 'modelcollapse\[datasets\]'"):
        hf.wikitext_raw_text()
