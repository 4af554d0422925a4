"""The neural front end's text handling and forgetting bookkeeping (no torch needed).

The forgetting check replaces the network by the exact unigram sampler (C_k ~ Multinomial(n,
C_{k-1}/n), drawn token by token) inside the same front end (``run_text_model``), so what it
tests is the shared ``ForgettingObserver`` and the words table, against ``forget`` and against
the exact E[uniq_k] of the theory module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from modelcollapse.data.corpus import Corpus
from modelcollapse.data.tokenize import paper_tokenize
from modelcollapse.errors import ConfigError
from modelcollapse.families.base import Observable
from modelcollapse.forgetting import forget
from modelcollapse.models.base import PerTrialModel
from modelcollapse.models.neural import WordVocabulary, split_heldout, tag, untag
from modelcollapse.neural_recursion import prepare_text, run_text_model
from modelcollapse.theory.categorical import expected_unique

from conftest import assert_z

TEXT = (
    "The cat sat on the mat. The dog, who saw the cat, sat on the log!\n"
    "Don't stop_me now: 2024 was the year the cat left."
)


def test_tokeniser_round_trips():
    corpus = Corpus.from_text(TEXT)
    vocab = WordVocabulary.from_corpus(corpus)
    ids = vocab.encode(TEXT)
    assert np.array_equal(ids, corpus.ids)
    assert vocab.decode(ids) == " ".join(paper_tokenize(TEXT))
    assert np.array_equal(vocab.encode(vocab.decode(ids)), ids)
    with pytest.raises(ConfigError, match="text"):
        vocab.encode("the unicorn")


def test_prepare_text_puts_training_words_first():
    words = ("a", "b", "c", "d", "e")
    ids = np.array([4, 4, 1, 4, 1, 0, 2, 2, 3, 3], dtype=np.int64)  # last 2 tokens held out
    text = prepare_text(ids, words, heldout=0.2)
    assert text.m == 4  # e, b, a, c are in the training part; d only in the held-out part
    assert text.words == ("e", "b", "c", "a", "d")
    assert [text.words[i] for i in text.train] == [words[i] for i in ids[:8]]
    assert [text.words[i] for i in text.heldout] == ["d", "d"]
    with pytest.raises(ConfigError, match="heldout"):
        split_heldout(ids, 1.0)


def test_tags_round_trip():
    tokens = np.array([0, 5, 2**31 - 1], dtype=np.int64)
    for gen, real in ((0, True), (7, False), (2**30 - 1, True)):
        back, gens, is_real = untag(tag(tokens, gen, real))
        assert np.array_equal(back, tokens)
        assert np.all(gens == gen) and np.all(is_real == real)


@dataclass(frozen=True, eq=False)
class UnigramText(PerTrialModel):
    """The exact unigram sampler as a per-trial text model: the state is the word counts."""

    name: ClassVar[str] = "unigram-text"
    counts: Any = None

    def start(self) -> np.ndarray:
        return np.asarray(self.counts, dtype=np.int64)

    def generate(self, state: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        # n i.i.d. tokens of the fitted unigram model (the ML estimate is the counts / n).
        return rng.choice(state.size, size=n, p=state / state.sum())

    def refit(self, data: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.bincount(data, minlength=len(self.counts))

    def observables(self) -> tuple[Observable, ...]:
        return (Observable("uniq"),)

    def values(self, state: np.ndarray) -> list[float]:
        return [float(np.count_nonzero(state))]

    def symbol_counts(self, state: np.ndarray) -> np.ndarray:
        return state[None, :]


def test_forgetting_observer_agrees_with_forget_for_the_unigram_sampler():
    # Seed 11; 600 trials of each. The number of words alive at generation k is compared with
    # the exact E[uniq_k] for both runs (10 comparisons, family-wise 1e-4, Bonferroni). Its
    # standard deviation here is about 1.5 words, so the standard error is about 0.06 words,
    # while an off-by-one generation in the bookkeeping moves E[uniq_k] by 1 to 4 words and a
    # missed or doubled count by more: at least 15 standard errors.
    counts = np.array([1] * 8 + [2] * 5 + [3] * 4 + [5] * 3 + [10, 20, 40], dtype=np.int64)
    n, gens, trials = int(counts.sum()), 5, 600
    words = tuple(f"w{i}" for i in range(counts.size))
    ids = np.repeat(np.arange(counts.size), counts)
    text = prepare_text(np.r_[ids, ids[:1]], words, heldout=1 / (n + 1))
    assert text.m == counts.size
    assert np.array_equal(np.sort(np.bincount(text.train)), np.sort(counts))
    model = UnigramText(counts=np.bincount(text.train))
    ours = run_text_model(model, text, generations=gens, trials=trials, seed=11).forgetting
    ref = forget(counts, generations=gens, trials=trials, seed=11, words=words)
    exact = expected_unique(np.arange(gens + 1), counts=counts, n=n)
    for res in (ours, ref):
        assert res.uniq.shape == (gens + 1, trials)
        assert np.all(res.uniq[0] == counts.size)
        # Forgetting times and the alive counts are two views of the same bookkeeping.
        for k in range(gens + 1):
            alive = ((res.forgotten_at == -1) | (res.forgotten_at > k)).sum(axis=1)
            assert np.array_equal(alive, res.uniq[k])
    se = lambda u: u.std(axis=1, ddof=1) / np.sqrt(trials)  # noqa: E731
    assert_z(ours.uniq[1:].mean(axis=1), exact[1:], se(ours.uniq[1:]), 10, "front end")
    assert_z(ref.uniq[1:].mean(axis=1), exact[1:], se(ref.uniq[1:]), 10, "forget")
    # The same words.parquet layout: same columns, the same dtypes, the words in one order.
    a, b = ours.words_table(), ref.words_table()
    assert list(a) == list(b)
    assert all(np.asarray(a[c]).dtype == np.asarray(b[c]).dtype for c in a)
    assert [ours.words[i] for i in np.argsort(ours.words)] == sorted(ref.words)


def test_neural_experiment_is_skipped_without_torch(monkeypatch, tmp_path):
    from modelcollapse.experiments import REGISTRY, Context, neural_lm
    from modelcollapse.experiments.base import ExperimentSkipped

    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c a b c a\n" * 50, encoding="utf-8")
    monkeypatch.setattr(neural_lm, "torch_available", lambda: False)
    with pytest.raises(ExperimentSkipped, match="PyTorch is not installed"):
        REGISTRY["neural-lm"].run(Context(scale="quick", corpus=corpus))


def test_neural_command_without_torch_exits_2(monkeypatch, tmp_path):
    import builtins

    from click.testing import CliRunner

    from modelcollapse.cli import cli

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("no torch here")
        return real_import(name, *args, **kwargs)

    corpus = tmp_path / "c.txt"
    corpus.write_text("a b c a b c a\n" * 50, encoding="utf-8")
    monkeypatch.setattr(builtins, "__import__", no_torch)
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["neural", str(corpus), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "pip install torch==2.13.0" in res.output
    assert not out.exists()
