"""The report's PNG plots, drawn with matplotlib (headless: the Agg backend): fitness, a score
beside the proxy best-so-far (meta-validation, promotion), promoted score against proxy fitness
(the transfer), the Pareto front and throughput.
Each returns the PNG's bytes."""
from __future__ import annotations

import io
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from lion_search.inspect.report.series import (
    best_so_far,
    rolling_failed,
    rolling_median,
    throughput,
)
from lion_search.runs.hall_of_fame import HallEntry

_DPI = 110


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _use_log(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return len(finite) > 1 and finite.min() > 0 and finite.max() / finite.min() > 20


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_fitness(fitness: np.ndarray, population: int, seed: float, title: str) -> bytes:
    """Best-so-far and population-median fitness against search evaluations."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8), dpi=_DPI)
    x = np.arange(1, len(fitness) + 1)
    ok = np.isfinite(fitness)
    if not ok.any():
        _empty(ax, "no successful search evaluation yet")
    else:
        best = best_so_far(fitness)
        median = rolling_median(fitness, population)
        failed = rolling_failed(fitness, population)
        if failed.any():
            share = ax.twinx()
            share.fill_between(x, 100 * failed, step="post", color="tab:red", alpha=0.08,
                               linewidth=0)
            share.set_ylim(0, 100)
            share.set_ylabel("failed in population (%)", color="tab:red", alpha=0.6)
            ax.set_zorder(share.get_zorder() + 1)
            ax.patch.set_visible(False)
        ax.scatter(x[ok], fitness[ok], s=6, color="0.7", alpha=0.5, linewidths=0,
                   label="each evaluation", zorder=1)
        shown = np.isfinite(median)
        ax.plot(x[shown], median[shown], color="tab:orange", linewidth=1.4, linestyle="--",
                label=f"population median (last {population}, successful)", zorder=4)
        shown = np.isfinite(best)
        ax.step(x[shown], best[shown], where="post", color="tab:blue", linewidth=1.8,
                label="best so far", zorder=3)
        if math.isfinite(seed):
            ax.axhline(seed, color="black", linestyle="--", linewidth=1, label="seed", zorder=2)
        curves = np.concatenate([best[np.isfinite(best)], median[np.isfinite(median)],
                                 [seed] if math.isfinite(seed) else []])
        if _use_log(np.concatenate([curves, fitness[ok]])):
            ax.set_yscale("log")
        # Frame the curves, not the worst outliers of single evaluations.
        low, high = curves.min(), curves.max()
        if high > low:
            if ax.get_yscale() == "log":
                ax.set_ylim(low / (high / low) ** 0.08, high * (high / low) ** 0.25)
            else:
                ax.set_ylim(low - 0.08 * (high - low), high + 0.25 * (high - low))
        handles, labels = ax.get_legend_handles_labels()
        if failed.any():
            handles.append(matplotlib.patches.Patch(color="tab:red", alpha=0.15))
            labels.append("failed share of the population (right axis)")
        ax.legend(handles, labels, fontsize=8, loc="upper center", ncol=3, frameon=False,
                  bbox_to_anchor=(0.5, -0.16))
    ax.set_xlabel("search evaluation (trained and cache hits)")
    ax.set_ylabel("fitness (validation loss, lower is better)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def plot_beside_proxy(best: np.ndarray, other_x: np.ndarray, other: np.ndarray, label: str,
                      ylabel: str, title: str, running_best: bool = False) -> bytes:
    """Proxy best-so-far (left axis) and another score measured during the search, such as
    meta-validation or promotion (right axis; with its own best so far if `running_best`)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=_DPI)
    x = np.arange(1, len(best) + 1)
    shown = np.isfinite(best)
    ax.step(x[shown], best[shown], where="post", color="tab:blue", linewidth=1.8,
            label="proxy: best so far")
    ax.set_xlabel("search evaluation")
    ax.set_ylabel("proxy fitness", color="tab:blue")
    right = ax.twinx()
    ok = np.isfinite(other)
    right.plot(other_x[ok], other[ok], "o" if running_best else "o-", color="tab:red",
               linewidth=1.4, markersize=4, label=label)
    if running_best and ok.any():
        order = np.argsort(other_x, kind="stable")
        right.step(other_x[order], best_so_far(other[order]), where="post", color="tab:red",
                   linewidth=1.8, alpha=0.6, label="best promoted so far")
    right.set_ylabel(ylabel, color="tab:red")
    # One kind of axis for both, so that equal heights are comparable: log only where both are.
    if _use_log(best) and _use_log(other):
        ax.set_yscale("log")
        right.set_yscale("log")
    lines = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper center", ncol=3,
              frameon=False, bbox_to_anchor=(0.5, -0.16))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def plot_transfer(fitness: np.ndarray, score: np.ndarray, tau: float, title: str) -> bytes:
    """Each promoted program's promoted score against its proxy fitness; a failed promotion
    is drawn at the top edge. The title carries the Kendall tau between the two."""
    fig, ax = plt.subplots(figsize=(6.5, 4.6), dpi=_DPI)
    ok = np.isfinite(fitness) & np.isfinite(score)
    if not ok.any():
        _empty(ax, "no program promoted with a finite score yet")
    else:
        ax.scatter(fitness[ok], score[ok], s=26, color="tab:purple", label="promoted program")
        failed = np.isfinite(fitness) & ~np.isfinite(score)
        if failed.any():
            top = score[ok].max() + 0.05 * (np.ptp(score[ok]) or 1.0)
            ax.scatter(fitness[failed], np.full(failed.sum(), top), marker="x", color="tab:red",
                       label="promotion failed")
        ax.legend(fontsize=8)
    ax.set_xlabel("proxy fitness (lower is better)")
    ax.set_ylabel("promoted score (lower is better)")
    ax.set_title(f"{title}: Kendall tau {tau:+.2f}" if math.isfinite(tau) else title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return _png(fig)


def plot_pareto(entries: list[HallEntry], seed: float, title: str) -> bytes:
    """Fitness against memory cost and against length; the Pareto front highlighted."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), dpi=_DPI, sharey=True)
    entries = [e for e in entries if math.isfinite(e.fitness)]
    for ax, attr, label in ((axes[0], "memory", "memory cost (slots)"),
                            (axes[1], "length", "length (instructions)")):
        if not entries:
            _empty(ax, "no evaluated program yet")
            continue
        x = np.array([getattr(e, attr) for e in entries])
        y = np.array([e.fitness for e in entries])
        front = np.array([e.on_front for e in entries])
        ax.scatter(x[~front], y[~front], s=22, color="0.6", label="best of its (length, memory)")
        ax.scatter(x[front], y[front], s=40, color="tab:red", zorder=3, label="Pareto front")
        for e in entries:
            if e.on_front:
                ax.annotate(f"#{e.id}", (getattr(e, attr), e.fitness), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
        # The 2-D front of this projection: the best fitness at this x or less.
        order = np.unique(x)
        envelope = [y[x <= v].min() for v in order]
        ax.step(order, envelope, where="post", color="tab:red", alpha=0.5, linewidth=1)
        if math.isfinite(seed):
            ax.axhline(seed, color="black", linestyle="--", linewidth=1, label="seed")
        if _use_log(np.append(y, seed)):
            ax.set_yscale("log")
        if attr == "memory":            # a handful of integer values: one tick each
            ax.set_xticks(range(int(x.min()), int(x.max()) + 1))
            ax.set_xlim(x.min() - 0.6, x.max() + 0.6)
        else:
            ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("fitness (lower is better)")
    fig.suptitle(title)
    if entries:
        fig.legend(*axes[1].get_legend_handles_labels(), fontsize=8, loc="lower center", ncol=3,
                   frameon=False)
        fig.tight_layout(rect=(0, 0.06, 1, 1))
    else:
        fig.tight_layout()
    return _png(fig)


def plot_throughput(created: np.ndarray, cached: np.ndarray, title: str) -> bytes:
    """Trained evaluations/s and cache hit rate over wall time."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 4.8), dpi=_DPI, sharex=True)
    centres, rate, hits, width = throughput(created, cached)
    if len(centres) == 0:
        _empty(top, "no search evaluation yet")
        _empty(bottom, "")
    else:
        span = centres[-1] + width / 2
        scale, unit = (60.0, "min") if span > 300 else (1.0, "s")
        top.bar(centres / scale, rate, width=width / scale * 0.9, color="tab:blue")
        top.set_ylabel("trained eval/s")
        top.grid(alpha=0.3)
        shown = np.isfinite(hits)
        bottom.plot(centres[shown] / scale, 100 * hits[shown], "o-", color="tab:green",
                    markersize=3, linewidth=1.2)
        bottom.set_ylim(-3, 103)
        bottom.set_ylabel("cache hit rate (%)")
        bottom.set_xlabel(f"wall time since the first search evaluation ({unit}); "
                          f"bins of {width / scale:.3g} {unit}")
        bottom.grid(alpha=0.3)
    top.set_title(title)
    fig.tight_layout()
    return _png(fig)
