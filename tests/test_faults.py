"""Bad input and faults that used to end in a traceback (issue 12, "Bad input and faults"; issue
16): each is now exit status 2 with the field, the value and what is allowed, or, for a fault of
the machine (a full disk), one line and exit status 1, with nothing half-written left behind.

No statistics: every test checks an exit status, a message and the files on disk. The full-disk
and read-only cases mount a tmpfs in a private mount namespace (``unshare -m``, as root) and are
skipped, with the reason, where that is not permitted.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from modelcollapse import limits, simulate
from modelcollapse.cli import cli
from modelcollapse.errors import ConfigError
from modelcollapse.store import (
    atomic_directory,
    check_output_location,
    provenance,
    remove_stale_partials,
)

SMALL = ["--n", "10", "--generations", "3", "--trials", "5", "--seed", "1"]
BERN = ["simulate", "--family", "bernoulli", "--param", "p=0.2"]


def _invoke(tmp_path, args, out=True):
    target = tmp_path / "out"
    extra = ["--out", str(target)] if out else []
    return CliRunner().invoke(cli, [*args, *extra]), target


def _assert_bad_input(result, field, value, tmp_path):
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    message = result.output.strip().splitlines()[-1]
    assert message.startswith(f"Error: invalid {field}:"), message
    assert value in message, message
    assert message.endswith(")"), "the message says what is allowed"
    assert list(tmp_path.iterdir()) == [], "nothing is written"


# ---- sizes numpy cannot hold, checked before any work ----------------------------------------


@pytest.mark.parametrize(
    ("args", "field", "value"),
    [
        # 7 TiB of per-generation arrays
        (
            [*BERN, "--n", "10", "--generations", "1000000000000", "--trials", "5", "--seed", "1"],
            "generations",
            "1000000000000",
        ),
        (
            [*BERN, "--n", "10", "--generations", str(2**63), "--trials", "5", "--seed", "1"],
            "generations",
            str(2**63),
        ),
        (
            [*BERN, "--n", "1000000000000", "--method", "naive", "--generations", "3",
             "--trials", "5", "--seed", "1"],
            "n",
            "1000000000000",
        ),
        (
            ["simulate", "--family", "mixture2", "--n", "10000000000", "--generations", "3",
             "--trials", "5", "--seed", "1"],
            "n",
            "10000000000",
        ),
        (
            ["simulate", "--family", "poisson", "--param", "lambda=1e18", *SMALL],
            "lambda",
            "1e+18",
        ),
        (
            [*BERN, "--n", "10", "--generations", "3", "--trials", str(2**63), "--seed", "1"],
            "trials",
            str(2**63),
        ),
        # 1e12 trials x 30 generations: weeks of CPU, refused instead of running until killed
        (
            [*BERN, "--n", "10", "--generations", "30", "--trials", "1000000000000", "--seed", "1"],
            "trials",
            "1000000000000",
        ),
        (
            ["simulate", "--family", "categorical", "--param", "counts=6000000000000000000,"
             "6000000000000000000", *SMALL],
            "counts",
            "12000000000000000000",
        ),
        (
            ["simulate", "--family", "categorical", "--param", "counts=6e18,6e18", *SMALL],
            "counts",
            "6e+18",
        ),
        (
            ["simulate", "--family", "gaussian", "--param", "mu=1e308", "--param", "sigma=1e308",
             *SMALL],
            "mu, sigma",
            "1e+308",
        ),
        (
            ["simulate", "--family", "gaussian", "--param", "sigma=1e308", *SMALL],
            "sigma",
            "1e+308",
        ),
    ],
)
def test_sizes_and_overflows_refused_before_work(tmp_path, args, field, value):
    result, _ = _invoke(tmp_path, args)
    _assert_bad_input(result, field, value, tmp_path)


def test_theory_generations_beyond_memory(tmp_path):
    result, _ = _invoke(
        tmp_path,
        ["theory", "bernoulli", "--param", "p=0.1", "--n", "10", "--generations", "1000000000000"],
        out=False,
    )
    _assert_bad_input(result, "--generations", "1000000000000", tmp_path)


def test_limits_leave_ordinary_runs_alone():
    # The checks must not refuse what runs today: a large but sane categorical start, a long
    # Gaussian run, Poisson and Gaussian parameters far from the limits.
    simulate("poisson", params={"lambda": 1e6}, n=1000, generations=2, trials=3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no overflow anywhere in the moments
        r = simulate("gaussian", params={"mu": 1e70, "sigma": 1e35}, n=10, generations=2,
                     trials=3, seed=0, metrics="all")
    for metric in ("mu_mean", "mu_var", "sigma2_mean", "sigma2_var", "w2_from_start_mean"):
        assert np.isfinite(r.metric(metric)[1]).all(), metric
    for metric in ("mu_mean", "sigma2_mean"):
        assert np.isfinite(r.metric(metric)[2]).all(), metric
    simulate("bernoulli", params={"p": 0.5}, n=10, generations=100_000, trials=2, seed=0,
             record_every=1000)
    big = 2**62
    simulate("categorical", params={"counts": [big, 1]}, n=10, generations=2, trials=2, seed=0)


def test_limit_boundaries_are_where_documented():
    # Just inside and just outside numpy's Poisson limit (half of it, for headroom).
    limits.check_poisson_rate(1, limits.POISSON_LAM_MAX / 2, "exact")
    with pytest.raises(ConfigError):
        limits.check_poisson_rate(1, limits.POISSON_LAM_MAX / 2 * 1.001, "exact")
    limits.check_work(trials=10**5, generations=10**7, per_step=1)  # exactly MAX_WORK
    with pytest.raises(ConfigError):
        limits.check_work(trials=10**5 + 1, generations=10**7, per_step=1)
    with pytest.raises(ConfigError):
        limits.check_memory("x", 1, limits.available_memory() * 2.0, "test")


def test_counts_file_above_int64(tmp_path):
    from modelcollapse.data.counts import read_counts

    counts = tmp_path / "c.tsv"
    counts.write_text(f"a\t{2**64}\n")
    with pytest.raises(ConfigError, match="line 1") as info:
        read_counts(counts)
    assert info.value.value == 2**64
    counts.write_text(f"a\t{2**63 - 1}\nb\t1\n")
    with pytest.raises(ConfigError, match="total"):
        read_counts(counts)
    result = CliRunner().invoke(
        cli, ["simulate", "--family", "categorical", "--counts", str(counts), *SMALL]
    )
    assert result.exit_code == 2 and "total 9223372036854775808" in result.output


# ---- output locations, checked before any work -----------------------------------------------


@pytest.mark.parametrize("command", ["simulate", "forget", "ngram", "verify", "reproduce"])
@pytest.mark.parametrize("where", [".", "", "file/o", "/proc/self/o"])
def test_unusable_out_refused_before_work(tmp_path, monkeypatch, command, where):
    monkeypatch.chdir(tmp_path)
    Path("file").write_text("in the way")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a b c a b a\n")
    args = {
        "simulate": [*BERN, *SMALL],
        "forget": ["forget", str(corpus), "--generations", "2", "--trials", "2"],
        "ngram": ["ngram", str(corpus), "--generations", "2"],
        "verify": ["verify", "--quick"],
        "reproduce": ["reproduce", "--only", "fig2a", "--scale", "quick"],
    }[command]
    before = sorted(os.listdir(tmp_path))
    started = time.perf_counter()
    result = CliRunner().invoke(cli, [*args, "--out", where])
    assert result.exit_code == 2, result.output
    assert "Error: invalid --out:" in result.output and "Traceback" not in result.output
    assert time.perf_counter() - started < 5, "refused before the work, not after"
    assert sorted(os.listdir(tmp_path)) == before


def test_plot_out_checked(tmp_path):
    from modelcollapse.sweep import run_sweep

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'seed = 1\n[base]\nfamily = "bernoulli"\ngenerations = 2\ntrials = 20\n'
        "[base.params]\np = 0.2\n[grid]\nn = [5, 10]\n"
    )
    run_sweep(sweep, tmp_path / "sw", workers=1)
    (tmp_path / "file").write_text("")
    for where in [str(tmp_path / "file" / "fig.png"), "/proc/self/fig.png"]:
        result = CliRunner().invoke(
            cli, ["plot", str(tmp_path / "sw"), "--x", "n", "--y", "p_mean", "--out", where]
        )
        assert result.exit_code == 2 and "invalid --out" in result.output, result.output


def test_check_output_location_leaves_nothing(tmp_path):
    target = tmp_path / "a" / "b" / "run"
    assert check_output_location(target) == target
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(ConfigError, match="overwrite"):
        check_output_location(tmp_path / "full", overwrite=False)
    check_output_location(tmp_path / "full", overwrite=True)


# ---- partial directories of killed writers ---------------------------------------------------


def test_stale_partials_of_dead_writers_are_removed(tmp_path):
    out = tmp_path / "run"
    # A writer killed mid-write (its pid is gone) on this host: found and removed.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with atomic_directory(out) as tmp:
        host = tmp.name.split("-")[1].split(".")[0]
    stale = tmp_path / f".run.mc{dead.pid}-{host}.abcd1234.partial"
    stale.mkdir()
    (stale / "summary.parquet").write_bytes(b"x" * 1000)
    # A live writer's partial (this process) and one of another host are kept.
    live = tmp_path / f".run.mc{os.getpid()}-{host}.live0000.partial"
    live.mkdir()
    other = tmp_path / f".run.mc{dead.pid}-00000000.other000.partial"
    other.mkdir()
    shutil.rmtree(out)
    with atomic_directory(out) as tmp:
        (tmp / "f").write_text("")
    assert not stale.exists()
    assert live.exists() and other.exists()
    assert remove_stale_partials(out) == []


def test_sigkill_during_simulate_out_then_next_write_cleans(tmp_path):
    # A real kill: simulate --out is killed while its partial directory exists.
    script = textwrap.dedent(
        f"""
        import os, signal
        from modelcollapse.store import atomic_directory
        with atomic_directory({str(tmp_path / "run")!r}) as tmp:
            (tmp / "summary.parquet").write_bytes(b"x" * 100000)
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src"))
    proc = subprocess.run([sys.executable, "-c", script], env=env, check=False)
    assert proc.returncode == -9
    partials = list(tmp_path.glob(".run.*.partial"))
    assert len(partials) == 1
    result = CliRunner().invoke(cli, [*BERN, *SMALL, "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    assert list(tmp_path.glob(".run.*.partial")) == []


# ---- read-only and full file systems (private mount namespace) ------------------------------

_MOUNT_SCRIPT = """
set -e
mount -t tmpfs -o size={size} tmpfs {mnt}
{prepare}
cd {cwd}
set +e
{python} -m modelcollapse.cli {args} > {mnt_out}/stdout 2> {mnt_out}/stderr
echo $? > {mnt_out}/rc
ls -A {mnt} > {mnt_out}/listing
"""


def _in_private_mount(tmp_path, size, prepare, args):
    """Run the CLI with a tmpfs of ``size`` mounted at tmp_path/mnt, visible only to it."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) to mount a tmpfs in a private mount namespace")
    mnt = tmp_path / "mnt"
    report = tmp_path / "report"
    mnt.mkdir()
    report.mkdir()
    src = Path(__file__).resolve().parents[1] / "src"
    script = _MOUNT_SCRIPT.format(
        size=size,
        mnt=mnt,
        prepare=prepare.format(mnt=mnt),
        cwd=tmp_path,
        python=sys.executable,
        args=" ".join(f"'{a}'" for a in args),
        mnt_out=report,
    )
    env = dict(os.environ, PYTHONPATH=str(src))
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(f"unshare -m / mount not permitted here: {probe.stderr.decode().strip()}")
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], env=env, capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rc = int((report / "rc").read_text())
    return rc, (report / "stderr").read_text(), (report / "listing").read_text().split()


def test_full_disk_while_writing_parquet(tmp_path):
    # 1.2 MB of tmpfs passes the 1 MiB free-space check; 5000 trajectories of 100 generations
    # (about 8 MB of floats) do not fit, so DuckDB hits ENOSPC mid-write.
    args = ["simulate", "--family", "gaussian", "--n", "10", "--generations", "100",
            "--trials", "5000", "--seed", "1", "--trajectories", "5000", "--out", "mnt/run"]
    rc, err, listing = _in_private_mount(tmp_path, "1200k", "", args)
    assert rc == 1, err
    assert err.count("\n") == 1 and "No space left on device" in err and "Traceback" not in err
    assert "mnt/run" in err
    assert listing == [], "no run directory and no .partial directory left"


def test_full_disk_before_work(tmp_path):
    args = [*BERN, *SMALL, "--out", "mnt/run"]
    rc, err, listing = _in_private_mount(tmp_path, "64k", "", args)
    assert rc == 2 and "invalid --out" in err and "free" in err, err
    assert listing == []


@pytest.mark.parametrize(
    "args",
    [
        [*BERN, *SMALL, "--out", "mnt/run"],
        ["sweep", "SWEEP", "--out", "mnt/sweep", "--workers", "1"],
        ["reproduce", "--only", "fig2a", "--scale", "quick", "--out", "mnt/report"],
    ],
)
def test_read_only_location_before_work(tmp_path, args):
    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'seed = 1\n[base]\nfamily = "bernoulli"\ngenerations = 2\ntrials = 20\n'
        "[base.params]\np = 0.2\n[grid]\nn = [5, 10]\n"
    )
    args = [str(sweep) if a == "SWEEP" else a for a in args]
    rc, err, listing = _in_private_mount(tmp_path, "1m", "mount -o remount,ro {mnt}", args)
    assert rc == 2, err
    assert "invalid --out" in err and "Read-only file system" in err, err
    assert listing == []


def test_read_only_directory_without_root(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes through directory permissions; covered by the read-only mount")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        result = CliRunner().invoke(cli, [*BERN, *SMALL, "--out", str(ro / "run")])
        assert result.exit_code == 2 and "invalid --out" in result.output
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


# ---- reproduce and verify: validate first, then create --------------------------------------


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        (["--seed", "-1"], "--seed"),
        (["--workers", "0"], "--workers"),
        (["--corpus", "BINARY"], "--corpus"),
        (["--corpus", "EMPTY"], "--corpus"),
        (["--corpus", "BLANK"], "--corpus"),
    ],
)
def test_reproduce_bad_input_writes_nothing(tmp_path, extra, field):
    files = {"BINARY": b"\x00\x01\x02", "EMPTY": b"", "BLANK": b"  \n\n"}
    (tmp_path / "in").mkdir()
    for name, data in files.items():
        (tmp_path / "in" / name).write_bytes(data)
    extra = [str(tmp_path / "in" / a) if a in files else a for a in extra]
    out = tmp_path / "report"
    result = CliRunner().invoke(cli, ["reproduce", "--only", "fig2a", "--out", str(out), *extra])
    assert result.exit_code == 2, result.output
    assert f"invalid {field}" in result.output
    assert not out.exists()


# ---- results: JSON for every DuckDB type ----------------------------------------------------


def test_results_json_converts_types_json_cannot_hold(tmp_path):
    from modelcollapse.sweep import run_sweep

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'seed = 1\n[base]\nfamily = "bernoulli"\ngenerations = 2\ntrials = 20\n'
        "[base.params]\np = 0.2\n[grid]\nn = [5, 10]\n"
    )
    run_sweep(sweep, tmp_path / "sw", workers=1)
    sql = (
        "SELECT 'abc'::BLOB AS b, INTERVAL '1 month 2 days 3.5 seconds' AS i, "
        "DATE '2020-01-02' AS d, TIMESTAMP '2020-01-02 03:04:05' AS t, 1.25::DECIMAL(6,2) AS m, "
        "'nan'::DOUBLE AS f, [1, 2] AS l, {'k': 'abc'::BLOB} AS s"
    )
    for fmt in ("json", "csv", "table"):
        result = CliRunner().invoke(cli, ["results", str(tmp_path / "sw"), "--sql", sql,
                                          "--format", fmt])
        assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli, ["results", str(tmp_path / "sw"), "--sql", sql,
                                      "--format", "json"])
    (row,) = json.loads(result.output)
    assert row == {"b": "YWJj", "i": "P1M2DT3.5S", "d": "2020-01-02", "t": "2020-01-02T03:04:05",
                   "m": 1.25, "f": None, "l": [1, 2], "s": {"k": "YWJj"}}


def test_results_max_rows_streams(tmp_path):
    from modelcollapse.sweep import run_sweep

    sweep = tmp_path / "s.toml"
    sweep.write_text(
        'seed = 1\n[base]\nfamily = "bernoulli"\ngenerations = 2\ntrials = 20\n'
        "[base.params]\np = 0.2\n[grid]\nn = [5, 10]\n"
    )
    run_sweep(sweep, tmp_path / "sw", workers=1)
    sql = "SELECT * FROM range(3000000)"
    result = CliRunner().invoke(cli, ["results", str(tmp_path / "sw"), "--sql", sql,
                                      "--format", "csv", "--max-rows", "5"])
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["range", "0", "1", "2", "3", "4"]
    assert "2999995 more rows" in result.stderr
    result = CliRunner().invoke(cli, ["results", str(tmp_path / "sw"), "--sql", sql])
    lines = result.output.splitlines()
    assert len(lines) == 62 and "2999940 more rows" in lines[-1]


# ---- provenance -------------------------------------------------------------------------------


def test_provenance_records_the_package_version_and_our_checkout_only(tmp_path):
    from modelcollapse import __version__

    info = provenance()
    assert info["modelcollapse"] == __version__
    root = Path(__file__).resolve().parents[1]
    in_checkout = (root / ".git").exists() and shutil.which("git") is not None
    if in_checkout:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                              text=True, check=True).stdout.strip()
        assert info["git_revision"] == head
        assert isinstance(info["git_dirty"], bool)
    # A copy of the package inside someone else's repository records no revision.
    other = tmp_path / "other"
    shutil.copytree(root / "src" / "modelcollapse", other / "lib" / "modelcollapse")
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    subprocess.run(["git", "init", "-q", str(other)], check=True)
    code = "from modelcollapse.store import provenance; import json; print(json.dumps(provenance()))"
    env = dict(os.environ, PYTHONPATH=str(other / "lib"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    foreign = json.loads(out.stdout)
    assert "git_revision" not in foreign and foreign["modelcollapse"] == __version__
