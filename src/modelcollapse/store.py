"""Results on disk: run directories of Parquet files with provenance, written atomically.

A run directory holds ``summary.parquet``, optional ``trajectories.parquet`` and ``run.json``
(the resolved configuration, the seed, package versions and the git revision when known). It is
assembled in a hidden sibling directory and renamed into place, so an interrupted write leaves
either a complete directory or none. DuckDB writes and reads the Parquet files.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Mapping
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb
import numpy as np

from modelcollapse.errors import ConfigError


def provenance() -> dict[str, Any]:
    """Versions of the software that produced a result, and the git revision when available."""

    def version(pkg: str) -> str | None:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "modelcollapse": version("modelcollapse"),
        "numpy": np.__version__,
        "scipy": version("scipy"),
        "duckdb": duckdb.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    try:
        here = Path(__file__).resolve().parent
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if rev.returncode == 0:
            info["git_revision"] = rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return info


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
        pq.write_table(arrow, tmp, compression="zstd")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def read_parquet(path: str | os.PathLike) -> Any:
    """Read a Parquet file (or a glob of them, through DuckDB) into a pandas DataFrame."""
    con = duckdb.connect()
    try:
        return con.execute(f"SELECT * FROM read_parquet('{_sql_path(Path(path))}')").df()
    finally:
        con.close()


@contextmanager
def atomic_directory(out: str | os.PathLike, *, overwrite: bool = False):
    """Yield a temporary directory that becomes ``out`` only if the block finishes.

    An existing non-empty ``out`` is refused (ConfigError) unless ``overwrite`` is set, in which
    case it is replaced only after the new one is complete.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ConfigError("out", str(out), "a new or empty directory (or pass --overwrite)")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it private; the result should not be
    try:
        yield tmp
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
    with atomic_directory(out, overwrite=overwrite) as tmp:
        write_parquet(result.summary, tmp / "summary.parquet", {"config": result.config})
        if result.trajectories is not None:
            write_parquet(result.trajectories, tmp / "trajectories.parquet")
        write_json(tmp / "run.json", run_info)
        for name in keep:
            if (Path(out) / name).is_dir():
                shutil.copytree(Path(out) / name, tmp / name)
    return Path(out)
