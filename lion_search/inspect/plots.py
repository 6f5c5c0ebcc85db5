"""PNG plots with matplotlib (headless: the Agg backend)."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402


def plot_curves(curves: dict[str, np.ndarray], path: str | Path, title: str) -> Path:
    """Training-loss curves, one line each, on a log scale; NaN (a stopped run) ends a line."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, curve in curves.items():
        ax.plot(np.arange(1, len(curve) + 1), curve, label=name, linewidth=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def plot_lr_sensitivity(sweeps: dict[str, list[tuple[float, float]]], path: str | Path,
                        title: str) -> Path:
    """Final validation loss against the peak learning rate, one line per optimizer (log-log);
    a failed run (inf) is left out of its line."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for name, points in sweeps.items():
        finite = [(lr, loss) for lr, loss in points if np.isfinite(loss)]
        if finite:
            ax.plot(*zip(*finite), marker="o", markersize=3, label=name, linewidth=1.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("peak learning rate")
    ax.set_ylabel("final validation loss")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    return _save(fig, path)


def plot_agreement_against_cost(points: list[tuple[str, float, float]], threshold: float,
                                path: str | Path, title: str) -> Path:
    """Each (label, seconds per evaluation, Kendall tau) as a labelled point, cost on a log
    scale, with the tau a proxy needs as a dashed line; a NaN tau is left out."""
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    shown = [(label, s, tau) for label, s, tau in points if np.isfinite(tau)]
    for label, seconds, tau in shown:
        ax.scatter(seconds, tau, s=18, color="tab:blue" if tau >= threshold else "0.45")
        ax.annotate(label, (seconds, tau), fontsize=6.5, xytext=(3, 2),
                    textcoords="offset points")
    ax.axhline(threshold, color="tab:red", linestyle="--", linewidth=1,
               label=f"tau = {threshold:g}")
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("seconds per evaluation (one training, one seed, one core)")
    ax.set_ylabel("Kendall tau against the mean target rank\n(of the targets not in the proxy)")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best")
    return _save(fig, path)


def plot_progress(groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
                  path: str | Path, title: str) -> Path:
    """Each group's mean best promoted score against trained evaluations, one line with a band
    of one standard deviation over its runs; inf or NaN (no promoted program yet) leaves a gap."""
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    groups = {name: tuple(np.where(np.isfinite(x), x, np.nan) for x in curve)
              for name, curve in groups.items()}
    for name, (budgets, mean, std) in groups.items():
        line, = ax.plot(budgets, mean, label=name, linewidth=1.4)
        ax.fill_between(budgets, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.axhline(0, color="0.5", linestyle="--", linewidth=0.9,
               label="tuned AdamW (score 0)")
    # The first rounds' scores can be far off (a failed program scores about 4): the y range is
    # that of the last three quarters of the budget, and 0, so that the ends can be told apart.
    late = [np.concatenate([m - np.nan_to_num(d), m + np.nan_to_num(d)])[
        np.tile(b >= b[-1] / 4, 2)] for b, m, d in groups.values()]
    late = np.concatenate(late + [np.zeros(1)])
    late = late[np.isfinite(late)]
    lo, hi = late.min(), late.max()
    ax.set_ylim(lo - 0.1 * (hi - lo + 1e-3), hi + 0.1 * (hi - lo + 1e-3))
    ax.set_xlabel("trained evaluations")
    ax.set_ylabel("best promoted score so far\n(log loss ratio to tuned AdamW)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    """Lay out `fig`, write it to `path` and free it."""
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
