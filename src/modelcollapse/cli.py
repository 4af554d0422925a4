"""The ``modelcollapse`` command line: a thin layer that parses options and calls the API.

Each sub-command lives in its own module under ``modelcollapse.commands``; this module only
assembles the group. Bad input exits with status 2 and writes nothing.
"""

from __future__ import annotations

import importlib

import click

from modelcollapse import __version__

# (module under modelcollapse.commands, attribute holding the click command)
_COMMANDS: list[tuple[str, str]] = [
    ("simulate", "simulate"),
    ("simulate", "run"),
    ("theory", "theory"),
    ("text", "forget"),
    ("text", "ngram"),
    ("neural", "neural"),
    ("reproduce", "reproduce"),
    ("reproduce", "verify"),
    ("sweep", "sweep"),
    ("sweep", "results"),
    ("sweep", "plot"),
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="modelcollapse")
def cli() -> None:
    """Measure how fast models forget when each generation trains on the previous one's data."""


def _register() -> None:
    for module_name, attr in _COMMANDS:
        module = importlib.import_module(f"modelcollapse.commands.{module_name}")
        cli.add_command(getattr(module, attr))


_register()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
