"""``modelcollapse neural``: a neural language model trained recursively on its own text."""

from __future__ import annotations

import click

from modelcollapse.commands._common import (
    JSON_OPTION,
    OVERWRITE_OPTION,
    PROGRESS_OPTION,
    handles_config_errors,
    json_dumps,
    out_option,
)
from modelcollapse.commands._frames import format_frame, records
from modelcollapse.commands.text import _check_out, _check_positive

WORKFLOWS = ("replace", "accumulate", "accumulate-subsample", "mix", "mix-fixed")


@click.command("neural")
@click.argument("corpus", type=click.Path(dir_okay=False))
@click.option("--generations", type=int, default=5, show_default=True, help="Refits K.")
@click.option("--trials", type=int, default=1, show_default=True, help="Independent trials.")
@click.option(
    "--max-tokens",
    type=int,
    default=20_000,
    show_default=True,
    help="Use the first N tokens of the corpus (0: all of it).",
)
@click.option(
    "--heldout", type=float, default=0.1, show_default=True, help="Share kept as held-out text."
)
@click.option("--workflow", default="replace", show_default=True, help=" | ".join(WORKFLOWS))
@click.option("--real-fraction", type=float, default=None, help="Real share for mix workflows.")
@click.option("--embed", type=int, default=32, show_default=True, help="Embedding width.")
@click.option("--hidden", type=int, default=64, show_default=True, help="GRU width.")
@click.option("--layers", type=int, default=1, show_default=True, help="GRU layers.")
@click.option("--context", type=int, default=32, show_default=True, help="Tokens per window.")
@click.option("--epochs", type=int, default=3, show_default=True, help="Passes per generation.")
@click.option("--batch-size", type=int, default=16, show_default=True, help="Windows per step.")
@click.option("--lr", type=float, default=1e-2, show_default=True, help="Adam learning rate.")
@click.option("--temperature", type=float, default=1.0, show_default=True, help="Sampler T.")
@click.option("--top-p", type=float, default=1.0, show_default=True, help="Nucleus mass kept.")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda.")
@click.option("--tokenizer", default="paper", show_default=True, help="paper | whitespace | regex:P")
@click.option("--threads", type=int, default=1, show_default=True, help="torch CPU threads.")
@click.option("--workers", type=int, default=1, show_default=True, help="Trials run at once.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of all streams.")
@out_option("Run directory to write (Parquet tables, run.json, figure, text samples).")
@JSON_OPTION
@OVERWRITE_OPTION
@PROGRESS_OPTION
@handles_config_errors
def neural(
    corpus,
    generations,
    trials,
    max_tokens,
    heldout,
    workflow,
    real_fraction,
    embed,
    hidden,
    layers,
    context,
    epochs,
    batch_size,
    lr,
    temperature,
    top_p,
    device,
    tokenizer,
    threads,
    workers,
    seed,
    out,
    as_json,
    overwrite,
    progress,
):
    """Train a GRU word language model on CORPUS, then recursively on its own samples.

    Reports per generation the held-out perplexity of real text, the next-token entropy, the
    fraction of the starting vocabulary still generated and distinct n-gram fractions (n=1..4);
    --out also writes words.parquet (per word and trial: the first generation whose text lacks
    it, as `modelcollapse forget` does). Needs the torch extra.

    \b
    Example:
      modelcollapse neural ../shared/data/wikitext2-train-500k.txt --max-tokens 20000 \\
          --generations 5 --trials 2 --out runs/gru
    """
    from modelcollapse.data.corpus import load_corpus
    from modelcollapse.models.neural import resolve_device
    from modelcollapse.neural_recursion import build_model, prepare_text, run_neural

    _check_positive("--generations", generations)
    _check_positive("--trials", trials)
    _check_positive("--workers", workers)
    _check_positive("--max-tokens", max_tokens, 0)
    _check_positive("--seed", seed, 0)
    _check_out(out, overwrite)
    device = resolve_device(device)  # unknown device, cuda without a GPU, torch missing
    c = load_corpus(corpus, tokenizer)
    text = prepare_text(
        c.ids,
        c.vocab,
        heldout=heldout,
        max_tokens=max_tokens or None,
        source={"corpus": c.describe(), "max_tokens": max_tokens or c.n_tokens},
    )
    options = dict(
        embed=embed,
        hidden=hidden,
        layers=layers,
        context=context,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        temperature=temperature,
        top_p=top_p,
        device=device,
        threads=threads,
    )
    build_model(text, seed=seed, **options)  # every model option and the memory estimate
    result = run_neural(
        text,
        generations=generations,
        trials=trials,
        seed=seed,
        workflow=workflow,
        real_fraction=real_fraction,
        workers=workers,
        progress=progress,
        **options,
    )
    if out is not None:
        result.save(out, overwrite=overwrite)
    table = result.generation_table()
    slope, slope_se = result.slope()
    if as_json:
        click.echo(
            json_dumps(
                {
                    "generations": records(table),
                    "fitted_slope": slope if slope == slope else None,
                    "fitted_slope_stderr": slope_se if slope_se == slope_se else None,
                }
            )
        )
        return
    click.echo(
        f"GRU language model on {text.train.size:,} training tokens ({text.m:,} words), "
        f"{text.heldout.size:,} held-out; {workflow}, {trials} trial(s), device {device}, "
        f"{result.elapsed_s:.1f} s"
    )
    keep = ["generation", "perplexity", "next_token_entropy", "vocab_frac"] + [
        f"distinct_{k}" for k in (1, 2, 3, 4)
    ]
    click.echo(format_frame(table[keep], max_rows=50))
    click.echo(
        f"median forgetting generation / count: slope {slope:.3g} ± {slope_se:.2g} "
        "(unigram linear law 2.885)"
    )
    if out is not None:
        click.echo(f"wrote {out}")
