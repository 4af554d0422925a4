"""Helpers shared by the sub-commands: error handling and option parsing."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any

import click
import numpy as np

from modelcollapse.errors import ConfigError

#: Exit status for bad input (nothing is written).
EXIT_BAD_INPUT = 2
#: Exit status for a fault of the machine (a full disk, an I/O error, memory exhausted).
EXIT_FAULT = 1


def fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(EXIT_BAD_INPUT)


def handles_config_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ConfigError into 'Error: ...' on stderr and exit status 2, and a fault of the
    machine (OSError such as ENOSPC, MemoryError) into one line on stderr and exit status 1.

    The writers remove their partial output before the error reaches here (``atomic_directory``
    and the sweep store clean up in ``finally``), so nothing half-written is left.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            fail(str(exc))
        except MemoryError:
            click.echo("Error: out of memory; nothing was written", err=True)
            sys.exit(EXIT_FAULT)
        except OSError as exc:
            if exc.errno is None:
                raise
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(f"Error: {exc.strerror or exc}{where}; nothing was written", err=True)
            sys.exit(EXIT_FAULT)

    return wrapper


def parse_value(text: str) -> Any:
    """A command-line value: a JSON literal, a comma-separated list of numbers, or a string."""
    text = text.strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    if "," in text:
        return [parse_value(part) for part in text.split(",") if part.strip()]
    return text


def parse_params(items: tuple[str, ...], option: str = "--param") -> dict[str, Any]:
    """``NAME=VALUE`` pairs to a dict; a malformed pair is a ConfigError."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(option, item, f"NAME=VALUE, e.g. {option} p=0.2")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(option, item, "NAME=VALUE with a non-empty NAME")
        if key in out:
            raise ConfigError(option, key, "each parameter once")
        out[key] = parse_value(value)
    return out


def json_dumps(records: Any) -> str:
    def default(v: Any) -> Any:
        if isinstance(v, np.generic):
            return v.item()
        if isinstance(v, np.ndarray):
            return v.tolist()
        raise TypeError(type(v).__name__)

    return json.dumps(records, default=default, allow_nan=False)


def stack_options(*options: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Apply several click options in the order written (the first appears first in --help)."""

    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


def out_option(help_text: str) -> Callable[[Any], Any]:
    return click.option("--out", type=click.Path(file_okay=False), default=None, help=help_text)


JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print the results as JSON records."
)
OVERWRITE_OPTION = click.option(
    "--overwrite", is_flag=True, help="Replace an existing --out directory."
)
PROGRESS_OPTION = click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar (default: on a terminal, for runs over a second).",
)


def check_out(out: str | None, overwrite: bool | None = False, *, is_file: bool = False) -> None:
    """Check an --out location before any work (``store.check_output_location``)."""
    if out is None:
        return
    from modelcollapse.store import check_output_location

    check_output_location(out, field="--out", is_file=is_file, overwrite=overwrite)
