"""The GRU language model (needs the torch extra; CI installs it, elsewhere these skip).

Small and fast: corpora of a few thousand tokens, networks of a few thousand weights.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")

from modelcollapse.cli import cli  # noqa: E402
from modelcollapse.engine import Observer, simulate  # noqa: E402
from modelcollapse.errors import ConfigError  # noqa: E402
from modelcollapse.models.neural import NeuralLM  # noqa: E402
from modelcollapse.neural_recursion import prepare_text, run_neural  # noqa: E402

#: A tiny network that trains in a fraction of a second.
TINY = dict(embed=16, hidden=32, context=8, epochs=4, batch_size=8, lr=1e-2, device="cpu")
#: Where the network need not learn, one pass is enough (the bookkeeping is what is tested).
QUICK = {**TINY, "epochs": 1}


def markov_text(tokens: int, words: int = 12, seed: int = 5) -> np.ndarray:
    """Word i is followed by word 2i or 2i+1 (mod V), each with probability 1/2: an entropy
    rate of log 2, so a model that learns the chain has a perplexity near 2, while one that knows
    only word frequencies (all 1/V here) has a perplexity near V."""
    rng = np.random.default_rng(seed)
    out = np.empty(tokens, dtype=np.int64)
    out[0] = 0
    step = rng.integers(0, 2, tokens)
    for t in range(1, tokens):
        out[t] = (2 * out[t - 1] + step[t]) % words
    return out


def tiny_text(tokens: int = 3000):
    ids = markov_text(tokens)
    return prepare_text(ids, tuple(f"w{i}" for i in range(12)), heldout=0.2)


def test_training_lowers_heldout_perplexity():
    # Deterministic (seed 3): the untrained network is near uniform (perplexity about 12); the
    # chain's own perplexity is 2. A broken loss, target shift or optimiser step leaves the
    # perplexity near 12 (or near the unigram's 12), far above the bound of 4.
    text = tiny_text()
    model = NeuralLM(train=text.train, heldout=text.heldout, vocab_size=12, **TINY)
    rng = np.random.default_rng(3)
    before, _ = model.score(model._build(np.random.default_rng(3)))
    after, entropy = model.score(model.fit(text.train, rng))
    assert before > 8.0
    assert after < 4.0 and after < before / 2
    # The next-token entropy of a model near the chain is near log 2, never above log V.
    assert 0.0 < entropy < math.log(4.0)


def test_same_seed_same_text_on_cpu():
    text = tiny_text(1000)
    runs = [
        run_neural(text, generations=g, trials=1, seed=s, sample_tokens=200, **QUICK)
        for s, g in ((7, 2), (7, 2), (8, 1))
    ]
    a, b, c = runs
    assert len(a.samples) == 3
    assert all(np.array_equal(x, y) for x, y in zip(a.samples, b.samples, strict=True))
    for name in a.values:
        assert np.array_equal(a.values[name], b.values[name], equal_nan=True), name
    assert np.array_equal(a.forgetting.forgotten_at, b.forgetting.forgotten_at)
    # Generation 0 is the real text in every run; the generated text depends on the seed.
    assert np.array_equal(a.samples[0], c.samples[0])
    assert not np.array_equal(a.samples[1], c.samples[1])


def test_sampler_temperature_and_top_p():
    text = tiny_text(500)
    logits = torch.tensor([[2.0, 1.0, 0.5, 0.0, -1.0] + [-30.0] * 7])
    for temperature, top_p in ((1.0, 1.0), (0.5, 1.0), (2.0, 0.7), (1.0, 0.05)):
        model = NeuralLM(
            train=text.train,
            heldout=text.heldout,
            vocab_size=12,
            **{**TINY, "temperature": temperature, "top_p": top_p},
        )
        got = model._probabilities(logits)[0]
        # Reference: softmax(logits / T), then the most probable words one by one until their
        # mass reaches top_p, renormalised.
        w = [math.exp(x / temperature) for x in logits[0].tolist()]
        p = [x / sum(w) for x in w]
        kept, mass = [], 0.0
        for i in sorted(range(len(p)), key=lambda i: -p[i]):
            if mass >= top_p:
                break
            kept.append(i)
            mass += p[i]
        want = [p[i] / mass if i in kept else 0.0 for i in range(len(p))]
        assert np.allclose(got, want, rtol=1e-12, atol=1e-15), (temperature, top_p)


class Sizes(Observer):
    """Training-set size and newest-text size of trial 0 at every generation."""

    every = True

    def setup(self, run):
        self.seen = {}

    def start(self, run, block):
        return {}

    def observe(self, acc, generation, state, share):
        acc[generation] = (state.train_tokens, state.text.size, state.generation)

    def fold(self, run, acc):
        if not self.seen:
            self.seen = acc


@pytest.mark.parametrize(
    "workflow, lam, train, fresh",
    [
        # n = 400 per generation. accumulate: the real 400 then 400 more each generation;
        # the forgetting observer counts the newest 400 synthetic tokens (real ones at k = 1).
        ("accumulate", None, [400, 800, 1200], [400, 400, 400]),
        # mix: 400 a generation, of which round(0.25 * 400) = 100 fresh real tokens.
        ("mix", 0.25, [400, 400, 400], [400, 300, 300]),
    ],
)
def test_workflows_pool_real_and_synthetic_text(workflow, lam, train, fresh):
    text = tiny_text(800)
    model = NeuralLM(train=text.train, heldout=text.heldout, vocab_size=12, **QUICK)
    sizes = Sizes()
    res = simulate(
        model,
        n=400,
        generations=3,
        trials=1,
        seed=1,
        workflow=workflow,
        real_fraction=lam,
        observers=[sizes],
    )
    assert [sizes.seen[k][0] for k in (1, 2, 3)] == train
    assert [sizes.seen[k][1] for k in (1, 2, 3)] == fresh
    assert [sizes.seen[k][2] for k in (0, 1, 2, 3)] == [0, 1, 2, 3]
    share = res.metric("real_fraction")[1]
    expect = [1.0] + [400 / t for t in train[1:]] if workflow == "accumulate" else [1, 0.25, 0.25]
    assert np.allclose(share[1:], expect)


def test_bad_model_input_is_refused_before_training():
    text = tiny_text(300)
    kwargs = dict(train=text.train, heldout=text.heldout, vocab_size=12)
    with pytest.raises(ConfigError, match="device"):
        NeuralLM(**kwargs, device="tpu")
    with pytest.raises(ConfigError, match="context"):
        NeuralLM(**kwargs, context=len(text.heldout) + 1)
    with pytest.raises(ConfigError, match="model size"):
        NeuralLM(**kwargs, hidden=2_000_000)
    with pytest.raises(ConfigError, match="top_p"):
        NeuralLM(**kwargs, top_p=0.0)
    with pytest.raises(ConfigError, match="temperature"):
        NeuralLM(**kwargs, temperature=-1.0)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA GPU"):
            NeuralLM(**kwargs, device="cuda")


@pytest.fixture
def corpus_file(tmp_path):
    words = [f"w{i}" for i in range(12)]
    path = tmp_path / "chain.txt"
    path.write_text(" ".join(words[i] for i in markov_text(1200)), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args, field",
    [
        (["--device", "tpu"], "device"),
        (["--context", "500"], "corpus (held-out part)"),
        (["--hidden", "3000000"], "model size"),
        (["--workflow", "mix"], "real_fraction"),
        (["--top-p", "1.5"], "top_p"),
    ],
)
def test_cli_bad_input_exits_2_and_writes_nothing(corpus_file, tmp_path, args, field):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["neural", str(corpus_file), "--out", str(out), *args])
    assert res.exit_code == 2, res.output
    assert f"invalid {field}" in res.output
    assert not out.exists()


def test_cli_runs_and_writes_forget_layout(corpus_file, tmp_path):
    import pyarrow.parquet as pq

    out = tmp_path / "run"
    args = ["neural", str(corpus_file), "--generations", "2", "--trials", "2", "--embed", "8"]
    args += ["--hidden", "16", "--context", "8", "--epochs", "1", "--device", "cpu"]
    res = CliRunner().invoke(cli, [*args, "--out", str(out), "--seed", "4"])
    assert res.exit_code == 0, res.output
    words = pq.read_table(out / "words.parquet")
    assert words.column_names == ["word", "count", "trial", "forgotten_at"]
    assert words.num_rows == 2 * 12
    summary = pq.read_table(out / "summary.parquet").to_pandas()
    assert {"perplexity", "vocab_frac", "distinct_4"} <= set(summary["metric"])


@pytest.mark.skipif(torch.cuda.is_available(), reason="the large setting runs where a GPU is")
def test_large_scale_is_skipped_without_a_gpu(corpus_file):
    from modelcollapse.experiments import REGISTRY, Context
    from modelcollapse.experiments.base import ExperimentSkipped

    with pytest.raises(ExperimentSkipped, match="meant for a GPU"):
        REGISTRY["neural-lm"].run(Context(scale="large", corpus=corpus_file))
