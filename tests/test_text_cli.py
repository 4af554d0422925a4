"""``modelcollapse forget`` and ``modelcollapse ngram``: run directories, JSON output and bad
input (exit 2, one message, nothing written)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from modelcollapse.cli import cli

TEXT = (
    "The cat sat on the mat. The dog sat on the log!\n"
    "A cat and a dog: friends? 42 cats, 7 dogs.\n\n"
    "Café owners feed the cat; the dog waits.\n"
) * 20


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def _invoke(args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_forget_writes_a_run_directory(corpus, tmp_path):
    out = tmp_path / "run"
    result = _invoke(["forget", corpus, "--generations", "8", "--trials", "3", "--out", out])
    assert result.exit_code == 0, result.output
    assert "unigram forgetting" in result.output and "2.885" in result.output
    names = {p.name for p in out.iterdir()}
    assert {
        "summary.parquet",
        "words.parquet",
        "counts.tsv",
        "run.json",
        "forgetting.png",
        "forgetting.svg",
    } <= names
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["generations"] == 8 and run["config"]["corpus"]["tokens"] > 0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_forget_json_and_counts_input(corpus, tmp_path):
    result = _invoke(["forget", corpus, "--generations", "4", "--trials", "2", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert [r["generation"] for r in records] == [0, 1, 2, 3, 4]
    assert records[0]["uniq_frac"] == 1.0
    counts = tmp_path / "counts.tsv"
    counts.write_text("the\t30\ncat\t5\ndog\t1\n", encoding="utf-8")
    result = _invoke(["forget", "--counts", counts, "--generations", "3", "--json"])
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)) == 4


def test_forget_wordfreq_input():
    pytest.importorskip("wordfreq", reason="wordfreq (optional extra) is not installed")
    result = _invoke(
        [
            "forget",
            "--wordfreq",
            "en",
            "--size",
            "20000",
            "--generations",
            "2",
            "--trials",
            "2",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)[2]["uniq_frac"] < 1.0


def test_ngram_writes_a_run_directory(corpus, tmp_path):
    out = tmp_path / "run"
    result = _invoke(
        [
            "ngram",
            corpus,
            "--order",
            "3",
            "--generations",
            "4",
            "--trials",
            "2",
            "--max-words",
            "10",
            "--out",
            out,
        ]
    )
    assert result.exit_code == 0, result.output
    assert {"summary.parquet", "samples.txt", "run.json"} <= {p.name for p in out.iterdir()}
    assert "# generation 4" in (out / "samples.txt").read_text(encoding="utf-8")
    result = _invoke(["ngram", corpus, "--order", "2", "--generations", "2", "--json"])
    records = json.loads(result.output)
    assert records[0]["vocab_frac"] == 1.0 and len(records) == 3


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (b"", ["forget"], "empty file"),
        (b"", ["ngram"], "empty file"),
        (b"abc\x00def", ["forget"], "NUL byte"),
        (b"\xff\xfe\x00a", ["ngram"], "NUL byte"),
        (b"caf\xe9", ["forget"], "invalid UTF-8"),
        (b"!!! ??? ...\n", ["forget"], "no tokens"),
        (b"--- ,,, \n", ["ngram"], "no tokens"),
        (b"a b c", ["ngram", "--order", "0"], "invalid order"),
        (b"a b c", ["ngram", "--order", "17"], "invalid order"),
        (b"a b c", ["ngram", "--order", "4"], "at least --order"),
        (b"a b c", ["ngram", "--generations", "0"], "invalid --generations"),
        (b"a b c", ["ngram", "--max-words", "0"], "invalid --max-words"),
        (b"a b c", ["forget", "--trials", "0"], "invalid --trials"),
        (b"a b c", ["forget", "--tokenizer", "regex:("], "invalid tokenizer regex"),
        (b"a b c", ["forget", "--tokenizer", "spacy"], "invalid tokenizer"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, content, args, message):
    path = tmp_path / "in.txt"
    path.write_bytes(content)
    out = tmp_path / "out"
    result = _invoke([args[0], path, *args[1:], "--out", out])
    assert result.exit_code == 2, result.output
    assert "Error: invalid" in result.output and message in result.output, result.output
    assert not out.exists()


def test_missing_file_and_conflicting_sources(tmp_path, corpus):
    result = _invoke(["forget", tmp_path / "nope.txt"])
    assert result.exit_code == 2 and "nope.txt" in result.output
    result = _invoke(["forget"])
    assert result.exit_code == 2 and "exactly one of CORPUS" in result.output
    result = _invoke(["forget", corpus, "--counts", corpus])
    assert result.exit_code == 2 and "exactly one of CORPUS" in result.output


def test_existing_out_is_refused_before_work(corpus, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    for cmd in (["forget", corpus], ["ngram", corpus]):
        result = _invoke([*cmd, "--generations", "2", "--out", out])
        assert result.exit_code == 2 and "--overwrite" in result.output
        assert (out / "keep.txt").exists()
    result = _invoke(["ngram", corpus, "--generations", "2", "--out", out, "--overwrite"])
    assert result.exit_code == 0 and not (out / "keep.txt").exists()


def test_forget_on_wikitext(wikitext_path):
    result = _invoke(["forget", wikitext_path, "--generations", "2", "--trials", "2", "--json"])
    assert result.exit_code == 0, result.output
    records = json.loads(result.output)
    assert records[1]["uniq_frac"] == pytest.approx(0.89, abs=0.01)
