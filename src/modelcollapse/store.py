"""Results on disk: run directories of Parquet files with provenance, written atomically.

A run directory holds ``summary.parquet``, optional ``trajectories.parquet`` and ``run.json``
(the resolved configuration, the seed, package versions and the git revision when known). It is
assembled in a hidden sibling directory and renamed into place, so an interrupted write leaves
either a complete directory or none. pyarrow writes the Parquet files; DuckDB reads them (SQL).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from modelcollapse.errors import ConfigError

#: Files that mark the root of this project's own source checkout (src layout).
_CHECKOUT_MARKERS = ("pyproject.toml", "src/modelcollapse/__init__.py")


def _project_checkout() -> Path | None:
    """The root of the modelcollapse source checkout this package runs from, or None.

    The package is imported from ``ROOT/src/modelcollapse`` in a checkout; anywhere else (site-
    packages, a vendored copy inside someone else's repository) the surrounding git repository is
    not ours and its revision says nothing about this code.
    """
    here = Path(__file__).resolve().parent
    root = here.parent.parent
    if here.parent.name != "src" or not all((root / m).is_file() for m in _CHECKOUT_MARKERS):
        return None
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    if 'name = "modelcollapse"' not in text:
        return None
    return root


def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance() -> dict[str, Any]:
    """Versions of the software that produced a result.

    ``modelcollapse`` is the package's own version (``modelcollapse.__version__``, which is what
    the code says it is, installed or not). ``git_revision`` and ``git_dirty`` (uncommitted
    changes to tracked files of the package) are recorded only when the package runs from this
    project's own source checkout, never from whatever repository it happens to sit in.
    """
    from modelcollapse import __version__

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "modelcollapse": __version__,
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "duckdb": duckdb.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    root = _project_checkout()
    if root is not None and _git(root, "rev-parse", "--show-toplevel") is not None:
        top = Path(_git(root, "rev-parse", "--show-toplevel") or "").resolve()
        if top == root.resolve():
            rev = _git(root, "rev-parse", "HEAD")
            if rev:
                info["git_revision"] = rev
                status = _git(root, "status", "--porcelain", "--untracked-files=no", "--", "src")
                info["git_dirty"] = bool(status) if status is not None else None
    return info


# ---- output locations ---------------------------------------------------------------------

#: Least free space accepted on the output's file system before any work starts.
MIN_FREE_BYTES = 1 << 20
#: Pseudo file systems that hold no user files.
_PSEUDO_ROOTS = (Path("/proc"), Path("/sys"), Path("/dev"))


def check_output_location(
    path: str | os.PathLike,
    *,
    field: str = "--out",
    is_file: bool = False,
    overwrite: bool | None = None,
) -> Path:
    """Check, before any work, that ``path`` can be written; raise ConfigError otherwise.

    Refuses an empty name, ``.`` or ``..``, a path under /proc, /sys or /dev, a file in the way
    (the path itself or one of its parents), a location that cannot be created (read-only or
    permission denied: probed by creating and removing an empty directory next to it) and a file
    system with less than ``MIN_FREE_BYTES`` free. Missing parent directories are allowed (they
    are created on writing) when the nearest existing one is writable. With ``overwrite=False``
    an existing non-empty directory is refused too. Nothing is left behind.

    Returns
    -------
    The path, as a ``Path``.
    """
    text = os.fspath(path)
    if not str(text).strip():
        raise ConfigError(field, text, "a non-empty path")
    target = Path(text)
    if target.name in ("", ".", "..") or Path(os.path.abspath(text)).name == "":
        raise ConfigError(field, text, "a path naming a new file or directory, not '.' or '..'")
    absolute = Path(os.path.abspath(text))
    for root in _PSEUDO_ROOTS:
        if absolute == root or root in absolute.parents:
            raise ConfigError(field, text, f"a path outside {root} (a pseudo file system)")
    kind = "file" if is_file else "directory"
    if target.exists() or target.is_symlink():
        if is_file and target.is_dir():
            raise ConfigError(field, text, "a file path (this is a directory)")
        if not is_file and not target.is_dir():
            raise ConfigError(field, text, "a directory path (a file is in the way)")
        if (
            overwrite is False
            and not is_file
            and any(target.iterdir())
        ):
            raise ConfigError(field, text, "a new or empty directory (or pass --overwrite)")
    ancestor = absolute.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ConfigError(field, text, f"a {kind} path: {ancestor} is a file, not a directory")
    try:
        probe = tempfile.mkdtemp(prefix=".modelcollapse-probe.", dir=ancestor)
        os.rmdir(probe)
    except OSError as exc:
        raise ConfigError(
            field, text, f"a location this user can write: {ancestor}: {exc.strerror}"
        ) from None
    try:
        stat = os.statvfs(ancestor)
        free = stat.f_bavail * stat.f_frsize
    except (OSError, AttributeError):
        free = None
    if free is not None and free < MIN_FREE_BYTES:
        raise ConfigError(
            field,
            text,
            f"a file system with at least {MIN_FREE_BYTES >> 20} MiB free "
            f"({ancestor} has {free:,} bytes free)",
        )
    return target


def _arrow_table(table: Any) -> Any:
    import pyarrow as pa

    if hasattr(table, "to_numpy") and hasattr(table, "columns"):  # a pandas DataFrame
        return pa.Table.from_pandas(table, preserve_index=False)
    arrays, names = [], []
    for key, value in table.items():
        if isinstance(value, np.ma.MaskedArray):
            # A masked entry is a missing value (NULL in SQL): e.g. a censored forgetting time.
            arrays.append(pa.array(value.data, mask=np.ma.getmaskarray(value)))
        else:
            value = np.asarray(value)
            arrays.append(pa.array(value.tolist() if value.dtype == object else value))
        names.append(key)
    return pa.Table.from_arrays(arrays, names=names)


def write_parquet(
    table: Any,
    path: str | os.PathLike,
    metadata_json: Mapping[str, Any] | None = None,
) -> None:
    """Write a DataFrame (or a mapping of column arrays; masked entries become NULL) to Parquet
    with pyarrow, atomically (a temporary file renamed into place). ``metadata_json`` is kept in
    the file's key-value metadata under ``modelcollapse``."""
    import pyarrow.parquet as pq

    arrow = _arrow_table(table)
    if metadata_json:
        blob = json.dumps(metadata_json, sort_keys=True, default=str)
        arrow = arrow.replace_schema_metadata(
            {**(arrow.schema.metadata or {}), b"modelcollapse": blob.encode()}
        )
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        try:
            pq.write_table(arrow, tmp, compression="zstd")
        except OSError as exc:
            # pyarrow's OSError carries no file name (and often no errno): name the file.
            raise (exc if exc.filename else as_os_error(exc, path)) from None
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def as_os_error(exc: Exception, path: str | os.PathLike) -> OSError:
    """A DuckDB I/O error as the OSError it stands for (ENOSPC for a full disk)."""
    text = str(exc)
    code = errno.EIO
    for number, phrase in (
        (errno.ENOSPC, "No space left"),
        (errno.EDQUOT, "quota exceeded"),
        (errno.EROFS, "Read-only file system"),
        (errno.EACCES, "Permission denied"),
    ):
        if phrase.lower() in text.lower():
            code = number
            break
    return OSError(code, os.strerror(code), str(path))


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def read_parquet(path: str | os.PathLike) -> Any:
    """Read a Parquet file (or a glob of them, through DuckDB) into a pandas DataFrame."""
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT * FROM read_parquet('{_sql_path(Path(path))}')").df()
    finally:
        con.close()


#: A partial directory of unknown owner (an older version's) older than this is stale.
STALE_UNKNOWN_S = 3600.0
_PARTIAL = re.compile(r"^\.(?P<name>.+)\.mc(?P<pid>\d+)-(?P<host>[0-9a-f]{8})\.[^.]+\.partial$")


def _host_tag() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    except OSError:
        return True
    return True


def remove_stale_partials(out: str | os.PathLike) -> list[Path]:
    """Remove ``.NAME.*.partial`` directories next to ``out`` left by killed writers.

    Ours carry the writer's pid and a hash of its host in their name: one from this host whose
    pid is gone is removed; one from another host (a shared file system) is left alone. A
    partial without that tag (written by an older version) is removed once it is over an hour
    old. Returns the directories removed.
    """
    out = Path(out)
    parent = out.parent if str(out.parent) else Path(".")
    removed: list[Path] = []
    if not parent.is_dir():
        return removed
    host = _host_tag()
    prefix = f".{out.name}."
    now = time.time()
    try:
        entries = list(parent.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not (name.startswith(prefix) and name.endswith(".partial")) or not entry.is_dir():
            continue
        match = _PARTIAL.match(name)
        if match is not None and match.group("name") == out.name:
            if match.group("host") != host or _pid_alive(int(match.group("pid"))):
                continue
        else:
            try:
                if now - entry.stat().st_mtime < STALE_UNKNOWN_S:
                    continue
            except OSError:
                continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


@contextmanager
def atomic_directory(out: str | os.PathLike, *, overwrite: bool = False):
    """Yield a temporary directory that becomes ``out`` only if the block finishes.

    An existing non-empty ``out`` is refused (ConfigError) unless ``overwrite`` is set, in which
    case it is replaced only after the new one is complete. The temporary directory is
    ``.NAME.mc<pid>-<host>.XXXX.partial`` next to ``out``; stale ones of killed writers are
    removed first (``remove_stale_partials``), and this one is removed on any error (a full
    disk included), so no partial output is left behind.
    """
    out = Path(out)
    check_output_location(out, field="out")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError("out", str(out), "a new or empty directory (or pass --overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(out)
    tmp = Path(
        tempfile.mkdtemp(
            prefix=f".{out.name}.mc{os.getpid()}-{_host_tag()}.", suffix=".partial", dir=out.parent
        )
    )
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result should not be
    try:
        try:
            yield tmp
        except OSError as exc:
            if exc.errno is None or not exc.filename:
                raise
            # Name the output the user asked for, not our hidden temporary directory.
            inner = None
            if str(exc.filename).startswith(str(tmp)):
                inner = os.path.relpath(exc.filename, tmp)
                inner = re.sub(r"^\.(.+)\.[0-9a-f]{32}\.tmp$", r"\1", inner)
            where = f"{out}" + (f" ({inner})" if inner else "")
            raise OSError(exc.errno, exc.strerror, where) from exc
        if out.exists():
            old = out.with_name(f".{out.name}.{uuid.uuid4().hex}.old")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    Path(path).write_text(
        json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n",
        encoding="utf-8",
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_run(
    out: str | os.PathLike,
    result: Any,
    *,
    overwrite: bool = False,
    extra: Mapping[str, Any] | None = None,
    keep: tuple[str, ...] = (),
) -> Path:
    """Write a SimulationResult as a run directory; return its path.

    ``keep`` names sub-directories of an existing ``out`` that the new directory takes over
    (copied, so that ``out`` is replaced atomically): the finished trials of a plug-in run.
    """
    run_info = {
        "config": result.config,
        "seed": result.config.get("seed"),
        "elapsed_s": round(result.elapsed_s, 6),
        "versions": provenance(),
        "files": ["summary.parquet"]
        + (["trajectories.parquet"] if result.trajectories is not None else []),
    }
    if extra:
        run_info.update(extra)
    extra_files: dict[str, Any] = dict(getattr(result, "files", {}) or {})
    run_info["files"] += sorted(extra_files)
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_parquet(result.summary, tmp / "summary.parquet", {"config": result.config})
        if result.trajectories is not None:
            write_parquet(result.trajectories, tmp / "trajectories.parquet")
        for name, frame in extra_files.items():
            write_parquet(frame, tmp / name)
        write_json(tmp / "run.json", run_info)
        for name in keep:
            if (Path(out) / name).is_dir():
                shutil.copytree(Path(out) / name, tmp / name)
    return Path(out)
