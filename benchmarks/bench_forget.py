"""``modelcollapse forget`` against the same run through the Python API.

Run:  python benchmarks/bench_forget.py [--quick] [--corpus PATH]

The command (a fresh process: interpreter start, imports, corpus, recursion, theory columns,
Parquet tables and the figure) is timed against the same run through the Python API
(``load_corpus``, ``forget``, ``attach_theory``, ``result.save``) in a fresh process as a script,
and in this process after its imports, and against the recursion alone in this process
(``load_corpus`` and ``forget``). CPU seconds (user + system)
of the process doing the work, best of three: the machine is shared.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

CORPUS = Path(__file__).resolve().parents[1].parent / "shared/data/wikitext2-train-500k.txt"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cli_seconds(corpus: str, generations: int, trials: int, out: Path) -> tuple[float, float]:
    """(CPU, wall) seconds of one ``modelcollapse forget ... --out`` process."""
    before, start = _children_cpu(), time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "modelcollapse.cli", "forget", corpus, "--generations",
         str(generations), "--trials", str(trials), "--out", str(out), "--overwrite",
         "--no-progress"],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return _children_cpu() - before, time.perf_counter() - start


_SCRIPT = """
import sys
from modelcollapse.data.corpus import load_corpus
from modelcollapse.experiments.forgetting_theory import attach_theory
from modelcollapse.forgetting import forget
corpus, generations, trials, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
c = load_corpus(corpus, "paper")
r = forget(c.counts, generations=generations, trials=trials, seed=0, words=c.vocab,
           progress=False)
attach_theory(r)
r.save(out, overwrite=True)
"""


def script_seconds(corpus: str, generations: int, trials: int, out: Path) -> float:
    """CPU seconds of a fresh Python process doing the same run through the API."""
    before = _children_cpu()
    subprocess.run(
        [sys.executable, "-c", _SCRIPT, corpus, str(generations), str(trials), str(out)],
        check=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    return _children_cpu() - before


def api_seconds(corpus: str, generations: int, trials: int, out: Path | None) -> float:
    from modelcollapse.data.corpus import load_corpus
    from modelcollapse.experiments.forgetting_theory import attach_theory
    from modelcollapse.forgetting import forget

    start = time.process_time()
    c = load_corpus(corpus, "paper")
    result = forget(c.counts, generations=generations, trials=trials, seed=0, words=c.vocab,
                    progress=False)
    if out is not None:
        attach_theory(result)
        result.save(out, overwrite=True)
    return time.process_time() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 generations, 1 trial, one try")
    parser.add_argument("--tiny", action="store_true", help="the same as --quick")
    parser.add_argument("--corpus", default=str(CORPUS))
    args = parser.parse_args(argv)
    generations, trials, tries = (2, 1, 1) if args.quick or args.tiny else (10, 5, 3)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        api_seconds(args.corpus, 1, 1, None)  # imports and first-use caches, not timed
        api_full = min(api_seconds(args.corpus, generations, trials, out) for _ in range(tries))
        api_sim = min(api_seconds(args.corpus, generations, trials, None) for _ in range(tries))
        runs = [cli_seconds(args.corpus, generations, trials, out) for _ in range(tries)]
        script = min(script_seconds(args.corpus, generations, trials, out) for _ in range(tries))
    cli_cpu = min(r[0] for r in runs)
    cli_wall = min(r[1] for r in runs)
    row = {
        "generations": generations,
        "trials": trials,
        "cli_cpu_s": cli_cpu,
        "cli_wall_s": cli_wall,
        "api_same_run_s": api_full,
        "api_recursion_s": api_sim,
        "api_script_s": script,
    }
    print(f"# modelcollapse forget on {Path(args.corpus).name}: {generations} generations, "
          f"{trials} trials (CPU seconds, best of {tries})")
    print("| command | command (wall) | API script, same run (fresh process) | API, same run "
          "(in process) | API, recursion only (in process) | command / script | "
          "command / same run in process | command / recursion |")
    print("|---|---|---|---|---|---|---|---|")
    print(f"| {cli_cpu:.2f} | {cli_wall:.2f} | {script:.2f} | {api_full:.2f} | {api_sim:.2f} | "
          f"{cli_cpu / script:.2f} | {cli_cpu / api_full:.2f} | {cli_cpu / api_sim:.2f} |")
    return row


if __name__ == "__main__":
    main()
