"""Counts files: one ``symbol<TAB>count`` per line, UTF-8.

Blank lines are ignored, and so are lines starting with ``#`` unless they have the form
``symbol<TAB>count`` (so a word such as ``#tag`` written by ``write_counts`` reads back). Every
other line must have exactly one tab, a non-empty symbol and a non-negative integer count;
symbols must be unique.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.limits import INT64_MAX


def _is_entry(parts: list[str]) -> bool:
    if len(parts) != 2 or not parts[0]:
        return False
    try:
        int(parts[1].strip())
    except ValueError:
        return False
    return True


def read_counts(path: str | os.PathLike) -> tuple[list[str], np.ndarray]:
    """Read a counts file; return the symbols and their counts (int64), in file order.

    Raises ConfigError naming the file and line for a missing, empty or malformed file.
    """
    path = Path(path)
    field = f"counts file {str(path)!r}"
    if not path.is_file():
        raise ConfigError(field, str(path), "an existing file of symbol<TAB>count lines")
    symbols: list[str] = []
    counts: list[int] = []
    seen: set[str] = set()
    try:
        with path.open(encoding="utf-8") as handle:
            for lineno, line in enumerate(handle, 1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                parts = line.split("\t")
                if line.startswith("#") and not _is_entry(parts):
                    # A comment. A line like "#tag<TAB>3" is an entry: whitespace tokenisers
                    # produce such words, and write_counts must round-trip them.
                    continue
                if len(parts) != 2 or not parts[0]:
                    raise ConfigError(f"{field} line {lineno}", line, "expected 'symbol<TAB>count'")
                symbol, raw = parts
                try:
                    count = int(raw.strip())
                except ValueError:
                    raise ConfigError(
                        f"{field} line {lineno}", raw, "the count must be a non-negative integer"
                    ) from None
                if count < 0:
                    raise ConfigError(f"{field} line {lineno}", count, "counts must be >= 0")
                if count > INT64_MAX:
                    raise ConfigError(
                        f"{field} line {lineno}", count, f"counts at most {INT64_MAX} (int64)"
                    )
                if symbol in seen:
                    raise ConfigError(f"{field} line {lineno}", symbol, "symbols must be unique")
                seen.add(symbol)
                symbols.append(symbol)
                counts.append(count)
    except UnicodeDecodeError as exc:
        raise ConfigError(field, f"byte {exc.start}", "a UTF-8 text file") from None
    if not symbols:
        raise ConfigError(field, "empty", "at least one symbol<TAB>count line")
    total = sum(counts)
    if total > INT64_MAX:
        raise ConfigError(
            field, f"total {total}", f"counts whose total is at most {INT64_MAX} (int64)"
        )
    arr = np.asarray(counts, dtype=np.int64)
    if total == 0:
        raise ConfigError(field, "all counts zero", "at least one positive count")
    return symbols, arr


def write_counts(path: str | os.PathLike, symbols: Iterable[str], counts: Iterable[int]) -> None:
    """Write a counts file atomically (a temporary file renamed into place)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            for symbol, count in zip(symbols, counts, strict=True):
                if "\t" in symbol or "\n" in symbol:
                    raise ConfigError("symbol", symbol, "symbols may not contain tabs or newlines")
                handle.write(f"{symbol}\t{int(count)}\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
