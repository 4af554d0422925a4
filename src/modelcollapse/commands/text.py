"""``modelcollapse forget`` and ``modelcollapse ngram``: recursive training on a text corpus."""

from __future__ import annotations

from typing import Any

import click

from modelcollapse.commands._common import (
    JSON_OPTION,
    OVERWRITE_OPTION,
    PROGRESS_OPTION,
    check_out,
    handles_config_errors,
    json_dumps,
    out_option,
    stack_options,
)
from modelcollapse.commands._frames import format_frame, records
from modelcollapse.errors import ConfigError


def _check_out(out: str | None, overwrite: bool) -> None:
    # Refuse an unusable or non-empty --out before any work (the atomic write would refuse it
    # only at the end).
    check_out(out, overwrite)


def _check_positive(name: str, value: int, low: int = 1) -> None:
    if value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    from modelcollapse.limits import check_int64

    check_int64(name, value, low=low)


def _check_text_run(generations: int, trials: int, words: int) -> None:
    """Sizes before the recursion: a row per generation, and trials x generations multinomial
    draws over the vocabulary (``limits.check_work``)."""
    from modelcollapse import limits

    limits.check_memory(
        "--generations", generations, 1024.0 * (generations + 1), f"{generations + 1:,} rows"
    )
    limits.check_work(trials=trials, generations=generations, per_step=words)


_tokenizer_option = click.option(
    "--tokenizer",
    default="paper",
    show_default=True,
    help="paper (lowercase, \\W+ to space, split) | whitespace | regex:PATTERN.",
)
_with_common = stack_options(
    click.option("--seed", type=int, default=0, show_default=True, help="Seed of all streams."),
    out_option("Run directory to write (Parquet tables, run.json, figure)."),
    JSON_OPTION,
    OVERWRITE_OPTION,
    PROGRESS_OPTION,
)


def _load_start(
    corpus: str | None,
    counts_file: str | None,
    wordfreq_lang: str | None,
    size: int,
    tokenizer: str,
    seed: int,
) -> tuple[tuple[str, ...], Any, dict[str, Any]]:
    """Words, counts and a description of where they came from."""
    given = [x is not None for x in (corpus, counts_file, wordfreq_lang)]
    if sum(given) != 1:
        raise ConfigError(
            "input",
            f"{sum(given)} sources",
            "exactly one of CORPUS, --counts FILE or --wordfreq LANG",
        )
    if corpus is not None:
        from modelcollapse.data.corpus import load_corpus

        c = load_corpus(corpus, tokenizer)
        return c.vocab, c.counts, {"corpus": c.describe()}
    if counts_file is not None:
        from modelcollapse.data.counts import read_counts

        words, counts = read_counts(counts_file)
        return tuple(words), counts, {"counts_file": counts_file}
    from modelcollapse.data.wordfreq_vocab import wordfreq_counts
    from modelcollapse.seeding import block_generator

    _check_positive("--size", size)
    # A dedicated stream (cell 1) so the vocabulary draw never overlaps the recursion's.
    words, counts = wordfreq_counts(
        wordfreq_lang,
        size,
        rng=block_generator(seed, 0, cell=1),  # type: ignore[arg-type]
    )
    return tuple(words), counts, {"wordfreq": {"lang": wordfreq_lang, "size": size}}


@click.command()
@click.argument("corpus", required=False, type=click.Path(dir_okay=False))
@click.option("--generations", type=int, default=10, show_default=True, help="Refits K.")
@click.option("--trials", type=int, default=5, show_default=True, help="Independent trials.")
@click.option(
    "--counts",
    "counts_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Start from a word<TAB>count file instead of a corpus.",
)
@click.option(
    "--wordfreq",
    "wordfreq_lang",
    default=None,
    metavar="LANG",
    help="Start from a random corpus of --size tokens drawn from wordfreq's list for LANG.",
)
@click.option(
    "--size", type=int, default=1_000_000, show_default=True, help="Tokens for --wordfreq."
)
@click.option("--no-theory", is_flag=True, help="Skip the exact value and Corollary 1 bounds.")
@click.option(
    "--scale",
    type=click.Choice(["log", "linear"]),
    default="log",
    show_default=True,
    help="Axes of the forgetting-time plot.",
)
@_tokenizer_option
@_with_common
@handles_config_errors
def forget(
    corpus,
    generations,
    trials,
    counts_file,
    wordfreq_lang,
    size,
    no_theory,
    scale,
    tokenizer,
    seed,
    out,
    as_json,
    overwrite,
    progress,
):
    """Forget words: recursive unigram training with n = the corpus token count.

    Reports the fraction of the vocabulary alive per generation (simulation, exact value and
    Corollary 1 bounds), and with --out writes words.parquet (each word's count and the
    generation at which it was forgotten in each trial; NULL = still alive), summary.parquet,
    counts.tsv, forgetting.png/svg and run.json.

    \b
    Example (the paper's unigram experiment on WikiText-2):
      modelcollapse forget ../shared/data/wikitext2-train-500k.txt \\
          --generations 10 --trials 5 --out runs/wikitext
    """
    from modelcollapse.forgetting import forget as run_forget

    _check_positive("--generations", generations)
    _check_positive("--trials", trials)
    _check_positive("--seed", seed, 0)
    _check_out(out, overwrite)
    words, counts, source = _load_start(corpus, counts_file, wordfreq_lang, size, tokenizer, seed)
    _check_text_run(generations, trials, len(words))
    result = run_forget(
        counts,
        generations=generations,
        trials=trials,
        seed=seed,
        words=words,
        progress=progress,
        source=source,
    )
    if not no_theory:
        from modelcollapse.experiments.forgetting_theory import attach_theory

        attach_theory(result)
    if out is not None:
        result.save(out, overwrite=overwrite, plot_scale=scale)
    table = result.generation_table()
    if as_json:
        click.echo(json_dumps(records(table)))
        return
    click.echo(
        f"unigram forgetting: n = {result.n:,} tokens, m = {result.m:,} words, "
        f"{trials} trials, {generations} generations, seed={seed} [{result.elapsed_s:.2f} s]"
    )
    click.echo(format_frame(table, max_rows=24))
    slope = result.fitted_slope()
    click.echo(
        f"median forgetting time per unit count: fitted {slope:.3f}, "
        "law 2/ln 2 = 2.885 (Poisson branching limit, reached from counts of about 50)"
    )
    if not no_theory:
        from modelcollapse.theory import median_forgetting_curve

        probe = [c for c in (1, 10, 50) if c <= result.n]
        ratio = median_forgetting_curve(probe, result.n)
        shown = [f"{r:.3g} (c={c})" for c, r in zip(probe, ratio, strict=True) if r == r]
        if shown:
            click.echo("exact median per unit count at this n: " + ", ".join(shown))
    if out is not None:
        click.echo(
            f"wrote {out}/ (summary.parquet, words.parquet, counts.tsv, forgetting.png, run.json)"
        )


@click.command()
@click.argument("corpus", type=click.Path(dir_okay=False))
@click.option("--order", type=int, default=2, show_default=True, help="n of the n-gram model.")
@click.option("--generations", type=int, default=10, show_default=True, help="Refits.")
@click.option("--trials", type=int, default=1, show_default=True, help="Independent trials.")
@click.option(
    "--max-words",
    type=int,
    default=50,
    show_default=True,
    help="Longest generated sentence (L).",
)
@_tokenizer_option
@_with_common
@handles_config_errors
def ngram(
    corpus,
    order,
    generations,
    trials,
    max_words,
    tokenizer,
    seed,
    out,
    as_json,
    overwrite,
    progress,
):
    """Recursive training of an n-gram language model on a corpus.

    Each generation generates as many tokens as it was trained on (sentences of at most
    --max-words words, each continuing an (n-1)-gram context drawn from its training text) and
    the next generation is fitted to them. Reports per generation the fraction of the original
    vocabulary still produced, the number of distinct n-grams and the unigram entropy (nats).

    \b
    Example:
      modelcollapse ngram ../shared/data/wikitext2-train-500k.txt --order 2 \\
          --generations 10 --out runs/bigram
    """
    from modelcollapse.data.corpus import load_corpus
    from modelcollapse.families.ngram import check_order
    from modelcollapse.ngram_recursion import run_ngram

    check_order(order)
    _check_positive("--generations", generations)
    _check_positive("--trials", trials)
    _check_positive("--max-words", max_words)
    _check_positive("--seed", seed, 0)
    _check_out(out, overwrite)
    c = load_corpus(corpus, tokenizer)
    # Each generation samples as many tokens as the corpus holds, per trial.
    _check_text_run(generations, trials, c.n_tokens)
    if c.n_tokens < order:
        raise ConfigError(
            f"corpus {corpus!r}", f"{c.n_tokens} tokens", f"at least --order = {order} tokens"
        )
    result = run_ngram(
        c.ids,
        order=order,
        generations=generations,
        trials=trials,
        seed=seed,
        max_words=max_words,
        vocab_size=c.n_words,
        progress=progress,
        source={"corpus": c.describe()},
    )
    if out is not None:
        _save_ngram(result, c, out, overwrite)
    table = result.generation_table()
    if as_json:
        click.echo(json_dumps(records(table)))
        return
    click.echo(
        f"{order}-gram recursion: {c.n_tokens:,} tokens, {c.n_words:,} words, trials={trials}, "
        f"{generations} generations, L = {max_words}, seed={seed} [{result.elapsed_s:.2f} s]"
    )
    click.echo(format_frame(table, max_rows=24))
    if out is not None:
        click.echo(f"wrote {out}/ (summary.parquet, samples.txt, run.json)")


def _save_ngram(result: Any, corpus: Any, out: str, overwrite: bool) -> None:
    from modelcollapse.store import atomic_directory, provenance, write_json, write_parquet

    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_parquet(result.summary(), tmp / "summary.parquet", {"config": result.config()})
        lines = [
            f"# generation {g}\n{' '.join(corpus.decode(s.tolist()))}\n"
            for g, s in enumerate(result.samples)
        ]
        (tmp / "samples.txt").write_text("\n".join(lines), encoding="utf-8")
        write_json(
            tmp / "run.json",
            {
                "config": result.config(),
                "seed": result.seed,
                "elapsed_s": round(result.elapsed_s, 6),
                "versions": provenance(),
                "files": ["summary.parquet", "samples.txt", "run.json"],
            },
        )
