"""A sweep directory: one Parquet file per finished cell, failures, and ``sweep.json``.

Layout::

    DIR/sweep.json                       the sweep file, its hash, versions, seeds, every cell
    DIR/cells/cell-00012-<hash>.parquet  one finished cell (written to a temporary file, renamed)
    DIR/failed/cell-00012.json           the error of a cell that failed on the last run

A cell is finished exactly when its Parquet file exists and is whole (its footer reads, and its
row count is the one recorded in that footer's metadata): an interrupted sweep resumes by running
the cells whose files are missing, and a truncated or corrupt file is moved to ``DIR/failed/``
and its cell run again, so no cell is ever present twice or half.

One process at a time runs a sweep directory: ``DIR/.sweep.lock`` is held with ``flock`` (the
kernel releases it when its holder dies, even by SIGKILL, so a lock is never stale) and names
the holder's pid, host and start time. A second process on the same directory is refused with a
message naming the holder. The cell's file
name holds the hash of its resolved configuration; a file that no cell of the current sweep
claims (a package upgrade that changes how a configuration resolves) is moved to ``DIR/stale/``
rather than mixed with new results. A sweep file whose content changed is refused.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import socket
import stat
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from modelcollapse.errors import ConfigError
from modelcollapse.store import provenance
from modelcollapse.sweep.spec import Cell, SweepSpec

SWEEP_JSON = "sweep.json"
CELLS = "cells"
FAILED = "failed"
STALE = "stale"
LOCK = ".sweep.lock"
#: Format version of sweep.json; bumped when the layout changes.
FORMAT = 1


def cell_filename(cell: Cell) -> str:
    return f"cell-{cell.index:05d}-{cell.hash[:16]}.parquet"


class SweepDir:
    """The files of one sweep directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.cells_dir = self.path / CELLS
        self.failed_dir = self.path / FAILED
        self.sweep_json = self.path / SWEEP_JSON
        #: Where ``prepare(force=True)`` moved an older sweep's directory, if it did.
        self.moved_to: Path | None = None
        #: The directory's lock, held from ``prepare`` to ``close``.
        self.lock: SweepLock | None = None
        #: Broken cell files that ``prepare`` moved to ``failed/`` (their cells run again).
        self.broken: list[Path] = []
        self._con: duckdb.DuckDBPyConnection | None = None

    # ---- opening ---------------------------------------------------------------------------

    @classmethod
    def prepare(cls, path: str | os.PathLike, spec: SweepSpec, *, force: bool = False) -> SweepDir:
        """Open ``path`` for ``spec``: a new directory, or the same sweep's directory to resume.

        A directory holding a different sweep (or anything that is not a sweep) is refused; with
        ``force`` it is first renamed to ``PATH.old-<hash>`` (kept, never deleted) and the sweep
        starts afresh in a new directory at ``path``.

        Returns
        -------
        SweepDir, with ``moved_to`` set when an old directory was moved aside.
        """
        path = Path(path)
        moved_to: Path | None = None
        if path.exists():
            refusal = cls.refusal(path, spec, force=force)
            if refusal is not None:
                raise ConfigError("--out", str(path), refusal)
            # Only with --force (kept, moved aside); without it, a conflict that appeared since
            # the look above (another sweep populating the directory) is the lock's to settle.
            if force and cls.conflict(path, spec) is not None and _held(path) is None:
                moved_to = _aside(path)
        sd = cls(path)
        sd.moved_to = moved_to
        path.mkdir(parents=True, exist_ok=True)
        sd.lock = SweepLock.acquire(path)
        try:
            # Again under the lock: another process may have created the directory meanwhile.
            problem = cls.conflict(path, spec) if moved_to is None else None
            if problem is not None:
                raise ConfigError("--out", str(path), problem + " (or pass --force)")
            sd.cells_dir.mkdir(exist_ok=True)
            sd.failed_dir.mkdir(exist_ok=True)
            if not sd.sweep_json.exists():
                sd._write_sweep_json(spec)
            sd._retire_stale(spec)
            sd.broken = sd._retire_broken(spec)
        except BaseException:
            sd.close()
            raise
        return sd

    @classmethod
    def refusal(cls, path: Path, spec: SweepSpec, *, force: bool) -> str | None:
        """Why a sweep of ``spec`` may not start at ``path`` now, or None; read only.

        Asked without the lock, before any work starts; ``prepare`` asks again under it. A
        directory another process holds is refused, with ``force`` too. Another sweep may create
        or lock the directory while this looks (two started together), so each question is asked
        of what is there now, and a conflict found is checked against the lock again: a
        half-created directory of a running sweep is reported as in use, not as foreign.
        """
        try:
            is_dir = stat.S_ISDIR(path.stat().st_mode)  # one look: it may be created meanwhile
        except FileNotFoundError:
            return None
        if not is_dir:
            return None if force else "a directory (this is a file) (or pass --force)"
        held = _held(path)
        if held is not None:
            return held
        problem = cls.conflict(path, spec)
        if problem is None:
            return None
        held = _held(path)
        if held is not None:
            return held
        return None if force else problem + " (or pass --force)"

    @staticmethod
    def conflict(path: Path, spec: SweepSpec) -> str | None:
        """Why the content of ``path`` cannot hold ``spec``'s sweep, or None (the lock aside)."""
        if not path.is_dir():
            return "a directory (this is a file)"
        if not any(p.name != LOCK for p in path.iterdir()):
            return None
        info_path = path / SWEEP_JSON
        if not info_path.is_file():
            return "a new directory or an existing sweep directory (no sweep.json here)"
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return "a sweep directory with a readable sweep.json"
        if info.get("sweep_hash") != spec.sweep_hash:
            return (
                "the directory of this sweep file: it holds a different sweep "
                f"(started from {info.get('source')!r}); use a new --out"
            )
        return None

    @classmethod
    def open(cls, path: str | os.PathLike) -> SweepDir:
        """An existing sweep directory, for reading results."""
        sd = cls(path)
        if not sd.sweep_json.is_file():
            raise ConfigError("DIR", str(path), "a sweep directory (with sweep.json)")
        return sd

    def info(self) -> dict[str, Any]:
        return json.loads(self.sweep_json.read_text(encoding="utf-8"))

    # ---- cells -----------------------------------------------------------------------------

    def cell_path(self, cell: Cell) -> Path:
        return self.cells_dir / cell_filename(cell)

    def is_done(self, cell: Cell) -> bool:
        """Whether the cell's file exists and is whole (``cell_file_problem`` finds nothing)."""
        path = self.cell_path(cell)
        return path.is_file() and cell_file_problem(path, cell) is None

    def _retire_broken(self, spec: SweepSpec) -> list[Path]:
        """Move truncated or corrupt cell files to ``failed/`` so that their cells run again."""
        moved = []
        for cell in spec.cells:
            path = self.cell_path(cell)
            if not path.is_file():
                continue
            problem = cell_file_problem(path, cell)
            if problem is None:
                continue
            target = self.failed_dir / f"{path.name}.broken-{uuid.uuid4().hex[:8]}"
            os.replace(path, target)
            _atomic_json(
                self.failed_dir / f"cell-{cell.index:05d}.json",
                {
                    "cell": cell.index,
                    "hash": cell.hash,
                    "values": cell.values,
                    "error": f"unreadable result file, moved to {target.name}: {problem}",
                    "traceback": "",
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                },
            )
            moved.append(target)
        return moved

    def write_cell(self, cell: Cell, spec: SweepSpec, columns: dict[str, np.ndarray]) -> Path:
        """Write a finished cell: its swept values as columns, then the summary (atomic)."""
        rows = len(columns["generation"])
        table: dict[str, np.ndarray] = {"cell": np.full(rows, cell.index, dtype=np.int64)}
        for name, kind in spec.column_types.items():
            table[name] = _column(cell.values[name], kind, rows)
        for name in ("generation", "metric", "value", "stderr"):
            table[name] = np.asarray(columns[name])
        path = self.cell_path(cell)
        meta = {
            "cell": cell.index,
            "hash": cell.hash,
            "rows": rows,
            "config": cell.config.model_dump(mode="json"),
        }
        self._write_parquet(table, path, meta)
        (self.failed_dir / f"cell-{cell.index:05d}.json").unlink(missing_ok=True)
        return path

    def _write_parquet(
        self, table: dict[str, np.ndarray], path: Path, meta: dict[str, Any]
    ) -> None:
        """``modelcollapse.store.write_parquet`` (pyarrow; a temporary file renamed into place),
        with the cell's metadata in the footer (what ``cell_file_problem`` checks)."""
        from modelcollapse.store import write_parquet

        write_parquet(table, path, meta)

    def close(self) -> None:
        """Close the DuckDB connection and release the lock."""
        if self._con is not None:
            self._con.close()
            self._con = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def write_failure(self, cell: Cell, error: str, traceback: str) -> Path:
        path = self.failed_dir / f"cell-{cell.index:05d}.json"
        payload = {
            "cell": cell.index,
            "hash": cell.hash,
            "values": cell.values,
            "error": error,
            "traceback": traceback,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        _atomic_json(path, payload)
        return path

    def failures(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.failed_dir.glob("cell-*.json")):
            try:
                out.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, json.JSONDecodeError):
                continue
        return out

    def record_run(self, entry: dict[str, Any]) -> None:
        """Append one invocation (executor, workers, counts, versions) to sweep.json."""
        info = self.info()
        info.setdefault("runs", []).append(entry)
        _atomic_json(self.sweep_json, info)

    def _write_sweep_json(self, spec: SweepSpec) -> None:
        info = {
            "format": FORMAT,
            "source": spec.source,
            "sweep_file": spec.text,
            "sweep": spec.raw,
            "sweep_hash": spec.sweep_hash,
            "seed": spec.seed,
            "seeding": "cell i, block b: SeedSequence(seed, spawn_key=(i, b))",
            "columns": spec.columns,
            "column_types": spec.column_types,
            "versions": provenance(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "cells": [
                {
                    "cell": c.index,
                    "seed": spec.seed,
                    "spawn_key": [c.index],
                    "hash": c.hash,
                    "file": f"{CELLS}/{cell_filename(c)}",
                    "values": c.values,
                    "config": c.config.model_dump(mode="json"),
                }
                for c in spec.cells
            ],
            "runs": [],
        }
        _atomic_json(self.sweep_json, info)

    def _retire_stale(self, spec: SweepSpec) -> None:
        expected = {cell_filename(c) for c in spec.cells}
        for path in self.cells_dir.glob("*.parquet"):
            if path.name not in expected:
                stale = self.path / STALE
                stale.mkdir(exist_ok=True)
                os.replace(path, stale / path.name)
        # Temporary files of a writer that was killed mid-write are never valid results.
        for path in self.cells_dir.glob(".*.tmp"):
            path.unlink(missing_ok=True)


# ---- the lock -----------------------------------------------------------------------------


#: errno values of a held flock.
_HELD = (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK)
#: errno values of a file system without flock (some network file systems).
_NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL)
_STAMP = re.compile(r"^pid (?P<pid>\d+) on (?P<host>\S+) since ")


class SweepLock:
    """An exclusive ``flock`` on ``DIR/.sweep.lock``, which names its holder.

    ``flock`` locks belong to the open file: the kernel drops them when the holder exits, however
    it exits, so a lock left by a killed process is released by construction (no stale lock to
    detect). The file's content (pid, host, start time) is for the message a second process
    prints, and is the lock itself on a file system without ``flock``: there a stamp naming a
    process of this host that no longer runs is stale and taken over; one of another host is
    respected (its liveness cannot be checked from here).
    """

    def __init__(self, path: Path, fd: int):
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, directory: Path) -> SweepLock:
        path = directory / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _HELD or (exc.errno in _NO_FLOCK and _live_stamp(path)):
                os.close(fd)
                raise ConfigError("--out", str(directory), _holder_message(path)) from None
            if exc.errno not in _NO_FLOCK:
                os.close(fd)
                raise
        since = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        stamp = f"pid {os.getpid()} on {socket.gethostname()} since {since}\n"
        os.ftruncate(fd, 0)
        os.write(fd, stamp.encode())
        return cls(path, fd)

    @staticmethod
    def holder(directory: Path) -> str | None:
        """Who holds the lock of ``directory`` (its file's text), or None when nobody does."""
        path = directory / LOCK
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _NO_FLOCK:
                return _live_stamp(path)
            try:
                return path.read_text(encoding="utf-8").strip() or "another process"
            except OSError:
                return "another process"
        finally:
            os.close(fd)
        return None

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, 0)
        except OSError:
            pass
        os.close(self._fd)  # closing the descriptor drops the flock
        self._fd = None


def _live_stamp(path: Path) -> str | None:
    """The lock file's stamp when it names a process that may be alive, else None (stale)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    match = _STAMP.match(text)
    if match is None:
        return None
    if match.group("host") != socket.gethostname():
        return text
    try:
        os.kill(int(match.group("pid")), 0)
    except ProcessLookupError:
        return None
    except OSError:
        return text
    return text if int(match.group("pid")) != os.getpid() else None


def _held(directory: Path) -> str | None:
    """The refusal for a directory whose lock another process holds, or None."""
    if SweepLock.holder(directory) is None:
        return None
    return _holder_message(directory / LOCK)


def _holder_message(path: Path) -> str:
    try:
        holder = path.read_text(encoding="utf-8").strip() or "another process"
    except OSError:
        holder = "another process"
    return (
        f"a sweep directory no other process is using: {holder} is running this sweep; "
        "wait for it to finish (then run again to resume) or stop it"
    )


def cell_file_problem(path: Path, cell: Cell | None = None) -> str | None:
    """Why a cell file cannot count as finished, or None when it is whole.

    Reads only the Parquet footer: the magic bytes at both ends, the file metadata, and our
    key-value metadata (the cell's hash and its row count, which must match the footer's).
    A file cut short anywhere loses its footer, so truncation is always caught.
    """
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for damaged files
        return f"{type(exc).__name__}: {exc}"
    ours = (meta.metadata or {}).get(b"modelcollapse")
    if ours is None:
        return "no modelcollapse metadata in the Parquet footer"
    try:
        info = json.loads(ours)
    except (ValueError, TypeError):
        return "unreadable modelcollapse metadata in the Parquet footer"
    if cell is not None and info.get("hash") != cell.hash:
        return "the file holds another configuration (hash mismatch)"
    rows = info.get("rows")
    if rows is not None and rows != meta.num_rows:
        return f"{meta.num_rows} rows, {rows} expected"
    if meta.num_rows == 0:
        return "no rows"
    return None


# ---- queries ------------------------------------------------------------------------------


def connect(path: str | os.PathLike) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with a view ``cells`` over every finished cell of a sweep."""
    sd = SweepDir.open(path)
    files = sorted(sd.cells_dir.glob("*.parquet"))
    if not files:
        raise ConfigError("DIR", str(path), "a sweep directory with at least one finished cell")
    for file in files:
        # A truncated file (a full disk, a copy cut short) would fail the query with DuckDB's
        # "No magic bytes"; name it instead, and the way out.
        problem = cell_file_problem(file)
        if problem is not None:
            raise ConfigError(
                "DIR",
                str(path),
                f"whole cell files; {file.name} is broken ({problem}): run the sweep again to "
                "move it to failed/ and recompute it",
            )
    con = duckdb.connect()
    glob = str(sd.cells_dir / "*.parquet").replace("'", "''")
    con.execute(f"CREATE VIEW cells AS SELECT * FROM read_parquet('{glob}', union_by_name = true)")
    return con


def query(path: str | os.PathLike, sql: str | None = None) -> Any:
    """Run SQL over the view ``cells`` (default: every row, ordered); a pandas DataFrame."""
    sql = sql or "SELECT * FROM cells ORDER BY cell, generation, metric"
    con = connect(path)
    try:
        try:
            result = con.execute(sql)
        except duckdb.Error as exc:
            raise ConfigError("--sql", sql, f"a valid query over the view `cells`: {exc}") from None
        if result.description is None:
            import pandas as pd

            return pd.DataFrame()
        return result.df()
    finally:
        con.close()


@dataclass
class QueryStream:
    """The columns of a query's result and an iterator over its Arrow record batches."""

    columns: list[str]
    types: list[str]
    batches: Iterator[Any]

    @staticmethod
    def rows(batch: Any) -> list[tuple[Any, ...]]:
        """A record batch as tuples of Python values."""
        return list(zip(*(c.to_pylist() for c in batch.columns), strict=True))


@contextmanager
def stream_query(
    path: str | os.PathLike, sql: str | None = None, *, batch_rows: int = 2048
) -> Iterator[QueryStream]:
    """Run SQL over the view ``cells`` and stream its rows, ``batch_rows`` at a time.

    DuckDB produces the result incrementally (a relation read as Arrow record batches), so
    memory stays bounded by the batch size and the query's own working set, whatever the number
    of rows: ``SELECT * FROM range(100000000)`` is read in about 200 MB. ``QueryStream.rows``
    turns a batch into Python values (bytes for BLOB, ``datetime`` types, ``Decimal``, Arrow's
    ``MonthDayNano`` for INTERVAL); converting them for output is the caller's business.

    The SQL runs with this user's rights (DuckDB can read and write files): see docs/sweeps.md.
    """
    sql = sql or "SELECT * FROM cells ORDER BY cell, generation, metric"
    con = connect(path)
    try:
        con.execute("SET enable_progress_bar = false")
        try:
            rel = con.sql(sql)
        except duckdb.Error as exc:
            raise ConfigError("--sql", sql, f"a valid query over the view `cells`: {exc}") from None
        if rel is None:  # a statement without a result (CREATE, SET, ...)
            yield QueryStream([], [], iter(()))
            return
        columns = list(rel.columns)
        types = [str(t) for t in rel.types]

        def batches() -> Iterator[Any]:
            try:
                reader = rel.to_arrow_reader(batch_rows)
                for batch in reader:
                    if batch.num_rows:
                        yield batch
            except duckdb.Error as exc:
                raise ConfigError("--sql", sql, f"a query that runs: {exc}") from None

        yield QueryStream(columns, types, batches())
    finally:
        con.close()


def read_cells(path: str | os.PathLike) -> Any:
    """Every row of every finished cell, ordered by cell, generation and metric."""
    return query(path)


# ---- helpers ------------------------------------------------------------------------------


def _column(value: Any, kind: str, rows: int) -> np.ndarray:
    if kind == "int":
        return np.full(rows, value, dtype=np.int64)
    if kind == "float":
        return np.full(rows, value, dtype=np.float64)
    if kind == "bool":
        return np.full(rows, value, dtype=bool)
    out = np.empty(rows, dtype=object)
    out[:] = [value] * rows
    return out


def _atomic_json(path: Path, payload: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(
            json.dumps(payload, indent=2, default=_json_default) + "\n", encoding="utf-8"
        )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (np.ndarray, tuple, set)):
        return list(value)
    return str(value)


def _aside(path: Path) -> Path:
    """Rename an old directory out of the way (results are never deleted)."""
    tag = "unknown"
    try:
        tag = json.loads((path / SWEEP_JSON).read_text(encoding="utf-8"))["sweep_hash"][:8]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    for k in range(1000):
        target = path.with_name(f"{path.name}.old-{tag}" + (f"-{k}" if k else ""))
        if not target.exists():
            os.replace(path, target)
            return target
    raise ConfigError("--out", str(path), "a directory that can be moved aside")
