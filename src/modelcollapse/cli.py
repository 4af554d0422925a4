"""The ``modelcollapse`` command line: a thin layer that parses options and calls the API.

Each sub-command lives in its own module under ``modelcollapse.commands``; this module only
assembles the group. A sub-command's module (and with it numpy, scipy, pandas, ...) is imported
only when that command runs, so ``--help`` and ``--version`` start in a small fraction of a
second. Bad input exits with status 2 and writes nothing.
"""

from __future__ import annotations

import importlib

import click

from modelcollapse import __version__

#: command name -> (module under modelcollapse.commands, attribute, one-line help for --help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "simulate": ("simulate", "simulate", "Recursively train one model family; summarise each generation."),
    "run": ("simulate", "run", "Run the simulation described by a TOML file."),
    "theory": ("theory", "theory", "The paper's bounds next to exact values (no Monte Carlo)."),
    "forget": ("text", "forget", "Forget words: recursive unigram training on a corpus."),
    "ngram": ("text", "ngram", "Recursive training of an n-gram language model on a corpus."),
    "neural": ("neural", "neural", "Recursive training of a neural language model on a corpus."),
    "reproduce": ("reproduce", "reproduce", "Reproduce every experiment of the paper, with a report."),
    "verify": ("reproduce", "verify", "Verify every family against the exact answers."),
    "sweep": ("sweep", "sweep", "Run every cell of a sweep file (resumable; local or Dask)."),
    "results": ("sweep", "results", "Query the finished cells of a sweep with DuckDB."),
    "plot": ("sweep", "plot", "Draw one metric of a sweep against a swept field."),
}


class LazyGroup(click.Group):
    """A group that imports a sub-command's module only when the sub-command is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr, _ = COMMANDS[name]
        module = importlib.import_module(f"modelcollapse.commands.{module_name}")
        return getattr(module, attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The listing uses the one-line help above, without importing any command module.
        rows = [(name, help_) for name, (_, _, help_) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelcollapse")
def cli() -> None:
    """Measure how fast models forget when each generation trains on the previous one's data."""


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
