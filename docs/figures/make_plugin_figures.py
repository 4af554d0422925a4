"""The KDE result of docs/plugins.md: the variance of a Gaussian kernel density estimator under
recursive training, simulated through the plug-in path, against its exact expectation.

Run from the repository root:  python docs/figures/make_plugin_figures.py
Writes docs/figures/plugins_kde.png and prints the table the document quotes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from modelcollapse import simulate  # noqa: E402
from modelcollapse.models.kde import GaussianKDE, bandwidth_factor  # noqa: E402
from modelcollapse.models.plugin import PluginModel  # noqa: E402

OUT = Path(__file__).resolve().parent
N, GENERATIONS, TRIALS, SEED = 20, 15, 2000, 7
BANDWIDTHS = (0.1, 0.3)
plt.rcParams.update({"figure.dpi": 80, "savefig.dpi": 80, "font.size": 9, "svg.hashsalt": "mc"})


def expected_fixed(k: np.ndarray, n: int, h: float) -> np.ndarray:
    a = (n - 1) / n
    return a**k + h**2 * (1 - a**k) / (1 - a)


def expected_scott(k: np.ndarray, n: int) -> np.ndarray:
    return ((n - 1) / n + bandwidth_factor("scott", n, 1) ** 2) ** k


def run(bandwidth) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    model = PluginModel(
        model=GaussianKDE(bandwidth),
        source="gaussian",
        reference_size=2,
        user_metrics={"model_var": lambda f, real: f.variance()},
    )
    res = simulate(model, n=N, generations=GENERATIONS, trials=TRIALS, seed=SEED,
                   metrics=["model_var"], progress=False)
    return res.metric("model_var")


def main() -> None:
    k = np.arange(GENERATIONS + 1)
    ml = ((N - 1) / N) ** k  # the ML Gaussian: E[sigma_k^2] = ((n-1)/n)^k
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    rows = []
    for bw, colour in zip((*BANDWIDTHS, "scott"), ("C0", "C1", "C3"), strict=True):
        g, v, se = (np.array(a, dtype=float) for a in run(bw))
        v[0], se[0] = 1.0, 0.0  # generation 0 is the source N(0, 1) itself
        theory = expected_scott(k, N) if bw == "scott" else expected_fixed(k, N, bw)
        label = "Scott's rule" if bw == "scott" else f"h = {bw:g}"
        ax.errorbar(g, v, yerr=2 * se, fmt="o", ms=3, color=colour, label=f"KDE, {label}")
        ax.plot(k, theory, "-", color=colour, lw=1)
        rows.append((label, v[5], se[5], theory[5], v[-1], se[-1], theory[-1]))
    ax.plot(k, ml, "--", color="0.4", lw=1, label="ML Gaussian (theory)")
    ax.set_yscale("log")
    ax.set_xlabel("generation k")
    ax.set_ylabel("variance of model k")
    ax.set_title(f"Gaussian KDE, n = {N}: simulated (±2 s.e.) and E[V_k]")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(OUT / "plugins_kde.png")
    last = GENERATIONS
    print(f"| bandwidth | V_5 simulated | E[V_5] | V_{last} simulated | E[V_{last}] |")
    print("|---|---|---|---|---|")
    for label, v5, s5, t5, vl, sl, tl in rows:
        print(f"| {label} | {v5:.3f} ± {s5:.3f} | {t5:.3f} | {vl:.3f} ± {sl:.3f} | {tl:.3f} |")


if __name__ == "__main__":
    main()
