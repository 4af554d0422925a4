"""Sweep files: parse, validate and expand a grid of run configurations into cells.

A sweep file (TOML) has a sweep seed, a base configuration (any ``RunConfig`` field), lists of
values for any fields, and optional explicit cells::

    seed = 7                 # the sweep seed (every cell's streams derive from it)
    replicates = 1           # optional: repeat every cell this many times (column `replicate`)

    [base]
    family = "bernoulli"
    generations = 50
    trials = 2000
    [base.params]
    p = 0.01

    [grid]                   # lists; keys are RunConfig fields or "params.NAME"
    n = [10, 100, 1000]
    "params.p" = [0.01, 0.1]

    [[cell]]                 # optional extra cells: overrides of base
    n = 50
    "params.p" = 0.5

The cells are the product of the grid lists (in the order the keys are written, the last key
varying fastest, replicates innermost), followed by the explicit cells. A cell's index is its
position in that list; its random streams are ``SeedSequence(seed, spawn_key=(index, block))``,
so they depend on the sweep seed and the index only, never on the executor or the worker.

Every cell is validated (``make_config`` and the family's own checks) before any cell runs.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelcollapse.config import RunConfig, make_config
from modelcollapse.errors import ConfigError

#: Top-level keys of a sweep file.
TOP_LEVEL_KEYS = ("seed", "replicates", "base", "grid", "cell", "description")
#: Columns of every cell's summary; swept fields may not take these names.
SUMMARY_COLUMNS = ("generation", "metric", "value", "stderr")
#: Columns that a sweep adds to every cell's table besides the swept fields.
RESERVED_COLUMNS = ("cell", *SUMMARY_COLUMNS)
#: RunConfig fields that a sweep does not let cells set, and why.
_FORBIDDEN = {
    "seed": "the sweep seed is the top-level `seed`; cells differ by their index "
    "(use `replicates = K` for repeated runs)",
}


@dataclass(frozen=True)
class Cell:
    """One configuration of a sweep.

    Attributes
    ----------
    index : position in the sweep; part of every random stream's key.
    config : the validated run configuration (its ``seed`` is the sweep seed).
    values : swept column name -> this cell's value (already converted to the column's type).
    hash : hash of the resolved configuration and index; identifies the cell's result file.
    """

    index: int
    config: RunConfig
    values: dict[str, Any]
    hash: str

    def label(self) -> str:
        """``n=100, p=0.1`` for messages."""
        return ", ".join(f"{k}={v}" for k, v in self.values.items())


@dataclass
class SweepSpec:
    """A parsed and validated sweep: the cells to run and how to describe them.

    ``columns`` maps each swept column name to its source key (a RunConfig field, ``params.NAME``
    or ``replicate``) and ``column_types`` to one of ``int``, ``float``, ``bool``, ``str``,
    ``json`` (non-scalar values, stored as JSON text). ``sweep_hash`` identifies the sweep's
    content (comments and spacing do not count; key order does, since it orders the cells).
    """

    seed: int
    replicates: int
    base: dict[str, Any]
    grid: dict[str, list[Any]]
    explicit: list[dict[str, Any]]
    cells: list[Cell]
    columns: dict[str, str]
    column_types: dict[str, str]
    raw: dict[str, Any]
    sweep_hash: str
    text: str | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.cells)


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    """Read and validate a sweep file; relative ``counts_file`` paths resolve against it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError("sweep file", str(path), "an existing TOML file")
    try:
        text = path.read_text(encoding="utf-8")
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("sweep file", str(path), f"valid TOML ({exc})") from None
    return parse_sweep(raw, base_dir=path.parent, text=text, source=str(path))


def parse_sweep(
    raw: dict[str, Any],
    *,
    base_dir: str | os.PathLike | None = None,
    text: str | None = None,
    source: str | None = None,
) -> SweepSpec:
    """Validate a sweep given as a dict (the parsed TOML) and expand it into cells.

    Raises
    ------
    ConfigError
        For an unknown key, an empty or non-list grid entry, or any cell whose configuration is
        invalid; the message names the field, the value, what is allowed, and the cell.
    """
    if not isinstance(raw, dict):
        raise ConfigError("sweep", raw, "a table of settings")
    for key in raw:
        if key not in TOP_LEVEL_KEYS:
            raise ConfigError(
                key, raw[key], "unknown key; allowed keys: " + ", ".join(TOP_LEVEL_KEYS)
            )
    raw_copy = copy.deepcopy(raw)
    if "seed" not in raw:
        raise ConfigError("seed", "missing", "required: the sweep seed, an integer >= 0")
    seed = _int_at_least("seed", raw["seed"], 0)
    replicates = _int_at_least("replicates", raw.get("replicates", 1), 1)

    base = raw.get("base", {})
    if not isinstance(base, dict):
        raise ConfigError("base", base, "a table of RunConfig settings ([base])")
    base = _flatten("base", base)
    for key, value in base.items():
        _check_key("base", key)
        if key == "params" and not isinstance(value, dict):
            raise ConfigError("base.params", value, "a table of the family's parameters")
    base = _resolve_paths(base, base_dir)

    grid_raw = raw.get("grid", {})
    if not isinstance(grid_raw, dict):
        raise ConfigError("grid", grid_raw, "a table of lists ([grid])")
    grid = _flatten("grid", grid_raw)
    for key, values in grid.items():
        _check_key("grid", key)
        if not isinstance(values, list):
            raise ConfigError(
                f"grid.{key}",
                values,
                f"a list of values (write {_toml_key(key)} = [{_toml_value(values)}] for one value)",
            )
        if not values:
            raise ConfigError(f"grid.{key}", values, "a non-empty list of values")
        grid[key] = _resolve_paths({key: values}, base_dir, many=True)[key]

    explicit_raw = raw.get("cell", [])
    if isinstance(explicit_raw, dict):
        explicit_raw = [explicit_raw]
    if not isinstance(explicit_raw, list) or not all(isinstance(c, dict) for c in explicit_raw):
        raise ConfigError("cell", explicit_raw, "[[cell]] tables of overrides")
    explicit = []
    for j, overrides in enumerate(explicit_raw):
        flat = _flatten(f"cell[{j}]", overrides)
        for key in flat:
            _check_key(f"cell[{j}]", key)
        explicit.append(_resolve_paths(flat, base_dir))

    if "params" in grid and any(k.startswith("params.") for k in grid):
        raise ConfigError(
            "grid.params", grid["params"], "give params either whole or as params.NAME"
        )

    swept: list[str] = list(grid)
    for overrides in explicit:
        swept += [k for k in overrides if k not in swept]
    columns = {_column_name(k): k for k in swept}
    if len(columns) != len(swept):
        raise ConfigError("grid", swept, "swept fields with distinct column names")
    for name, key in columns.items():
        if name in RESERVED_COLUMNS or name == "replicate":
            raise ConfigError(
                key, name, f"a column name other than: {', '.join(RESERVED_COLUMNS)}, replicate"
            )
    if replicates > 1:
        columns["replicate"] = "replicate"

    # ---- expand --------------------------------------------------------------------------
    combos: list[dict[str, Any]] = []
    if grid:
        keys = list(grid)
        for values in itertools.product(*(grid[k] for k in keys)):
            combos.append(dict(zip(keys, values, strict=True)))
    elif not explicit:
        combos.append({})  # a sweep with no grid and no cells is the base configuration alone
    combos += explicit

    drafts: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for combo in combos:
        for rep in range(replicates):
            drafts.append((combo, {"replicate": rep}))

    cells: list[Cell] = []
    raw_values: list[dict[str, Any]] = []
    for index, (overrides, extra) in enumerate(drafts):
        settings = _apply(base, overrides)
        settings["seed"] = seed
        cfg = _validate_cell(index, settings, overrides)
        values: dict[str, Any] = {}
        for name, key in columns.items():
            if key == "replicate":
                values[name] = extra["replicate"]
            else:
                values[name] = _lookup(cfg, key)
        raw_values.append(values)
        cells.append(Cell(index, cfg, values, cell_hash(cfg, index)))

    column_types = {name: _column_type([v[name] for v in raw_values]) for name in columns}
    for cell in cells:
        for name, kind in column_types.items():
            cell.values[name] = _convert(cell.values[name], kind)

    return SweepSpec(
        seed=seed,
        replicates=replicates,
        base=base,
        grid=grid,
        explicit=explicit,
        cells=cells,
        columns=columns,
        column_types=column_types,
        raw=raw_copy,
        sweep_hash=sweep_hash(raw_copy),
        text=text,
        source=source,
    )


def sweep_hash(raw: dict[str, Any]) -> str:
    """Hash of a parsed sweep file: key order kept (it orders the cells), formatting ignored."""
    blob = json.dumps(raw, sort_keys=False, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def cell_hash(cfg: RunConfig, index: int) -> str:
    """Hash of a cell's resolved configuration and index (its identity when resuming)."""
    blob = json.dumps(
        {"config": cfg.model_dump(mode="json"), "cell": index},
        sort_keys=True,
        default=str,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode()).hexdigest()


# ---- helpers ------------------------------------------------------------------------------


def _int_at_least(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(name, value, f"an integer >= {low}")
    return value


def _flatten(where: str, table: dict[str, Any]) -> dict[str, Any]:
    """``{"params": {"p": [..]}}`` (TOML dotted keys) -> ``{"params.p": [..]}`` in grids/cells.

    In ``base`` a ``params`` table stays whole (it is the base parameters); elsewhere a nested
    ``params`` table means per-parameter entries.
    """
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == "params" and isinstance(value, dict) and where != "base":
            for name, inner in value.items():
                out[f"params.{name}"] = inner
        elif key.startswith("params.") and where == "base":
            out.setdefault("params", {})
            if not isinstance(out["params"], dict):
                raise ConfigError("base.params", out["params"], "a table of parameters")
            out["params"][key.split(".", 1)[1]] = value
        else:
            out[key] = value
    return out


def _check_key(where: str, key: str) -> None:
    if key.startswith("params."):
        if not key.split(".", 1)[1]:
            raise ConfigError(f"{where}.{key}", key, "params.NAME with a parameter name")
        return
    if key in _FORBIDDEN:
        raise ConfigError(f"{where}.{key}", key, _FORBIDDEN[key])
    if key not in RunConfig.model_fields:
        allowed = [k for k in RunConfig.model_fields if k not in _FORBIDDEN] + ["params.NAME"]
        raise ConfigError(f"{where}.{key}", key, "unknown field; allowed: " + ", ".join(allowed))


def _resolve_paths(
    settings: dict[str, Any], base_dir: str | os.PathLike | None, many: bool = False
) -> dict[str, Any]:
    if base_dir is None or "counts_file" not in settings:
        return settings
    out = dict(settings)

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and not os.path.isabs(value):
            return str(Path(base_dir) / value)
        return value

    value = out["counts_file"]
    out["counts_file"] = [resolve(v) for v in value] if many else resolve(value)
    return out


def _apply(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    settings = copy.deepcopy(base)
    for key, value in overrides.items():
        if key.startswith("params."):
            params = dict(settings.get("params") or {})
            params[key.split(".", 1)[1]] = value
            settings["params"] = params
        else:
            settings[key] = copy.deepcopy(value)
    return settings


def _validate_cell(index: int, settings: dict[str, Any], overrides: dict[str, Any]) -> RunConfig:
    where = ", ".join(f"{k}={v!r}" for k, v in overrides.items())
    where = f"sweep cell {index}" + (f": {where}" if where else " (the base configuration)")
    try:
        if settings.get("trajectories") not in (None, False, 0):
            raise ConfigError(
                "trajectories", settings["trajectories"], "sweeps keep summaries only: false"
            )
        cfg = make_config(**settings)
        family = cfg.build_family()
        # Checks that simulate() would make only once the cell runs: fail now instead.
        check_n = getattr(family, "check_n", None)
        if check_n is not None:
            check_n(cfg.n)
        if cfg.metrics is not None:
            known = family.metric_names()
            for metric in cfg.metrics:
                if metric not in known:
                    raise ConfigError(
                        "metric", metric, f"{family.name} reports: {', '.join(known)}"
                    )
        if not family.has_exact and cfg.method == "exact":
            raise ConfigError(
                "method", cfg.method, f"{family.name} has no finite sufficient statistic: 'naive'"
            )
    except ConfigError as exc:
        raise ConfigError(exc.field, exc.value, f"{exc.allowed}; in {where}") from None
    return cfg


def _lookup(cfg: RunConfig, key: str) -> Any:
    if key.startswith("params."):
        return cfg.params.get(key.split(".", 1)[1])
    value = getattr(cfg, key)
    if value is None and key == "estimator":
        value = cfg.build_family().estimator  # the column shows the estimator actually used
    return value


def _column_name(key: str) -> str:
    return key.split(".", 1)[1] if key.startswith("params.") else key


def _column_type(values: list[Any]) -> str:
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    if all(v is None or isinstance(v, str) for v in values):
        return "str"
    return "json"


def _convert(value: Any, kind: str) -> Any:
    if kind == "float":
        return float(value)
    if kind == "json":
        return json.dumps(value, sort_keys=True)
    return value


def _toml_key(key: str) -> str:
    return f'"{key}"' if "." in key else key


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
