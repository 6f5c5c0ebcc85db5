"""The run report: PNG plots in the run folder and one self-contained `report.html`.

    fitness.png     best-so-far fitness, and the median of the population (the last P
                    evaluations), against search evaluations; the seed's fitness for reference
    metaval.png     the proxy best-so-far and the meta-validation fitness (the best-so-far
                    re-evaluated on a larger held-out task) against search evaluations
                    (only when the run has meta-validation evaluations)
    promotion.png   the proxy best-so-far, and the promoted score of each promoted program
                    with the best promoted score so far, against search evaluations (only
                    when the run has promoted programs)
    pareto.png      the hall of fame: fitness against memory cost and against length, the
                    Pareto front highlighted
    throughput.png  trained evaluations per second and the cache hit rate over wall time
    report.html     the plots (embedded as data URIs, so the file opens from disk anywhere),
                    the top programs with their text, the Pareto front, the best program's
                    lineage, the seeds, the funnel table (when RUN/funnel.json exists) and the
                    run's config

Failed evaluations (infinite fitness) are left out of the plots. Only reads the journal, so it
reports on a run that a live search is still writing (as of the moment it reads).
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import numpy as np  # noqa: E402

from lion_search.hall_of_fame import HallEntry, pareto_front  # noqa: E402
from lion_search.lineage import ancestry  # noqa: E402
from lion_search.store import RunStore  # noqa: E402
from lion_search.summary import format_delta, is_relative, summarize  # noqa: E402

REPORT = "report.html"
FUNNEL = "funnel.json"
PLOTS = ("fitness", "metaval", "promotion", "pareto", "throughput")
_DPI = 110


# ------------------------------------------------------------------------------- data

def _search_arrays(store: RunStore) -> dict[str, np.ndarray]:
    """Search evaluations in journal order: ids, fitness (inf = failed), cached, created."""
    rows = store.db.execute("SELECT id, fitness, cached, created FROM evaluations "
                            "WHERE kind = 'search' ORDER BY id").fetchall()
    data = np.array(rows, dtype=float).reshape(-1, 4)
    fitness = data[:, 1].copy()
    fitness[np.isnan(fitness)] = np.inf          # NULL (the worst fitness) reads as nan
    return {"id": data[:, 0], "fitness": fitness, "cached": data[:, 2].astype(bool),
            "created": data[:, 3]}


def best_so_far(fitness: np.ndarray) -> np.ndarray:
    """Running minimum (inf until the first success)."""
    return np.minimum.accumulate(fitness) if len(fitness) else fitness


def _rolling(values: np.ndarray, window: int, reduce) -> np.ndarray:
    """reduce(axis=1) over the last `window` values (all so far while fewer)."""
    n = len(values)
    window = max(1, int(window))
    out = np.empty(n)
    for i in range(min(n, window - 1)):
        out[i] = reduce(values[None, :i + 1], axis=1)[0]
    if n >= window:
        out[window - 1:] = reduce(np.lib.stride_tricks.sliding_window_view(values, window), axis=1)
    return out


def rolling_median(fitness: np.ndarray, window: int) -> np.ndarray:
    """The population's median fitness after each evaluation: the median over the successful
    members among the last `window` evaluations (nan where none succeeded)."""
    finite = np.where(np.isfinite(fitness), fitness, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)      # all-nan windows give nan
        return _rolling(finite, window, np.nanmedian)


def rolling_failed(fitness: np.ndarray, window: int) -> np.ndarray:
    """The share of failed (infinite-fitness) members among the last `window` evaluations."""
    return _rolling((~np.isfinite(fitness)).astype(float), window, np.mean)


def _scores(store: RunStore, search_ids: np.ndarray, kind: str
            ) -> tuple[np.ndarray, np.ndarray, str] | None:
    """(search evaluation index, fitness, task) of the evaluations of `kind` (None if none)."""
    rows = store.db.execute("SELECT id, fitness, task FROM evaluations WHERE kind = ? "
                            "ORDER BY id", (kind,)).fetchall()
    if not rows:
        return None
    x = np.searchsorted(search_ids, [r[0] for r in rows]).astype(float)
    return x, np.array([math.inf if r[1] is None else r[1] for r in rows], float), rows[-1][2]


def _seed_fitness(store: RunStore) -> float:
    return min((s["fitness"] for s in store.value("seeds", []) if s.get("fitness") is not None),
               default=math.inf)


# ------------------------------------------------------------------------------ plots

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


def throughput(created: np.ndarray, cached: np.ndarray, bins: int | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Binned over wall time from the first search evaluation: bin centres (s), trained
    evaluations/s, cache hit rate (nan in empty bins), and the bin width (s)."""
    if len(created) == 0:
        return np.array([]), np.array([]), np.array([]), 0.0
    start = created.min()
    span = max(created.max() - start, 1e-3)
    bins = bins or int(np.clip(len(created) // 20, 5, 60))
    edges = np.linspace(0.0, span * (1 + 1e-9), bins + 1)
    t = created - start
    trained, _ = np.histogram(t[~cached], edges)
    hits, _ = np.histogram(t[cached], edges)
    width = edges[1] - edges[0]
    total = trained + hits
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, hits / np.maximum(total, 1), np.nan)
    return (edges[:-1] + edges[1:]) / 2, trained / width, rate, width


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


# ------------------------------------------------------------------------------- html

_CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px auto;
       max-width: 1100px; color: #222; padding: 0 16px; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.2em; margin-top: 1.6em;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.sub { color: #666; margin-top: 0; }
.facts span { display: inline-block; margin: 4px 18px 4px 0; } .facts b { font-size: 1.1em; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: right; vertical-align: top; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
pre { margin: 0; font-size: 12px; text-align: left; white-space: pre; }
.plots img { max-width: 100%; border: 1px solid #eee; margin: 6px 0; }
.pass { color: #0a7a2f; font-weight: bold; } .fail { color: #b00020; }
.win { background: #eef8ee; } details { margin: 8px 0; }
.diff-add { color: #0a7a2f; } .diff-del { color: #b00020; }
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _num(x: float | None) -> str:
    return "failed" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _table(head: list[str], rows: list[list[str]], left: set[int] = frozenset(),
           row_class: list[str] | None = None) -> str:
    """An HTML table from already-escaped cells."""
    out = ["<table><tr>" + "".join(f'<th class="l">{h}</th>' if i in left else f"<th>{h}</th>"
                                   for i, h in enumerate(head)) + "</tr>"]
    for r, row in enumerate(rows):
        cls = f' class="{row_class[r]}"' if row_class and row_class[r] else ""
        out.append(f"<tr{cls}>" + "".join(f'<td class="l">{c}</td>' if i in left else
                                          f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    return "\n".join(out + ["</table>"])


def _result_cell(result: dict | None) -> str:
    if not result:
        return ""
    fitness, spread, lr = result.get("fitness"), result.get("spread"), result.get("lr")
    text = _num(fitness)
    if spread is not None and fitness is not None:
        text += f" &plusmn; {spread:.2g}"
    if lr is not None:
        text += f'<br><small>lr {lr:.3g}</small>'
    return text


def funnel_html(funnel: dict) -> str:
    """The funnel table: per stage, baselines and candidates on each task; then the winners."""
    parts = []
    for stage in funnel.get("stages", []):
        tasks = list(stage.get("tasks", []))
        seeds = ", ".join(map(str, stage.get("seeds", [])))
        notes = "; ".join(([f"seeds {seeds}"] if seeds else []) +
                          ([f"pass rule {stage['rule']}"] if stage.get("rule") else []))
        parts.append(f"<h3>Stage {_e(stage.get('name', '?'))}: {_e(', '.join(tasks))}"
                     + (f" ({_e(notes)})" if notes else "") + "</h3>")
        rows, classes = [], []
        for baseline in stage.get("baselines", []):
            results = baseline.get("results", {})
            rows.append([_e(baseline.get("name", "")), "baseline",
                         *(_result_cell(results.get(t)) for t in tasks), ""])
            classes.append("")
        for candidate in stage.get("candidates", []):
            results = candidate.get("results", {})
            passed = candidate.get("passed")
            verdict = ('<span class="pass">passed</span>' if passed else
                       '<span class="fail">out</span>' if passed is not None else "")
            name = candidate.get("name", "")
            ident = candidate.get("id")
            rows.append([_e(name) + (f" <small>#{_e(ident)}</small>" if ident is not None
                                     else ""), "candidate",
                         *(_result_cell(results.get(t)) for t in tasks), verdict])
            classes.append("win" if passed else "")
        parts.append(_table(["optimizer", "kind", *(_e(t) for t in tasks), "verdict"], rows,
                            {0, 1}, classes))
    entrants = funnel.get("candidates", [])
    if entrants:
        parts.append("<h3>Candidates</h3>")
        parts.append(_table(["name", "id", "program"],
                            [[_e(c.get("name", "")), _e(c.get("id", "")),
                              f"<pre>{_e(c.get('program', ''))}</pre>"
                              + (f'<p class="fail">Warning: {_e(c["lr_warning"])}.</p>'
                                 if c.get("lr_warning") else "")] for c in entrants], {0, 2}))
    winners = funnel.get("winners", [])
    if winners:
        parts.append("<h3>Winners</h3>")
        parts.append(_table(["name", "id", "stage", "exported to"],
                            [[_e(w.get("name", "")), _e(w.get("id", "")), _e(w.get("stage", "")),
                              f"<code>{_e(w.get('path', ''))}</code>"] for w in winners],
                            {0, 3}))
    elif funnel.get("stages"):
        parts.append("<p>No winner: no candidate beat the baselines through the last stage.</p>")
    return "\n".join(parts)


def _diff_html(diff: str) -> str:
    lines = []
    for line in diff.splitlines():
        cls = "diff-add" if line.startswith("+") else "diff-del"
        lines.append(f'<span class="{cls}">{_e(line)}</span>')
    return "<pre>" + "\n".join(lines) + "</pre>" if lines else ""


def _lineage_html(store: RunStore, program_id: int, limit: int = 60) -> str:
    """The lineage table: the seed, then the last `limit` steps (a long chain is cut)."""
    steps = ancestry(store, program_id)
    rows = []
    for i, s in enumerate(steps):
        if 0 < i < len(steps) - limit:
            if i == 1:
                rows.append(["", "", f"<i>{len(steps) - 1 - limit} earlier step(s) left out: "
                             f"lion-search show RUN --lineage {program_id}</i>", "", "", ""])
            continue
        delta = "" if i == 0 or not math.isfinite(s.delta) else f"{s.delta:+.4g}"
        rows.append([f"#{s.id}", _e(s.origin if i == 0 else f"step {i}"),
                     _e(s.mutation), _num(s.fitness), delta, _diff_html(s.diff)])
    return _table(["id", "", "mutation", "fitness", "change", "diff"], rows, {1, 2, 5})


def _img(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<div><img id="plot-{name}" alt="{_e(alt)}" src="data:image/png;base64,{data}"></div>'


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_funnel(folder: Path) -> tuple[dict | None, str | None]:
    """RUN/funnel.json as a dict, or (None, why it could not be read); (None, None) if absent."""
    path = folder / FUNNEL
    if not path.is_file():
        return None, None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        return None, f"{path} could not be read: {err}"
    if not isinstance(data, dict):
        return None, f"{path} is not a JSON object"
    return data, None


def write_report(store: RunStore, top: int = 10) -> Path:
    """Write the PNG plots and RUN/report.html (self-contained); returns the report's path."""
    folder = store.folder
    config = store.config
    summary = summarize(store, top)
    seed = _seed_fitness(store)
    population = int(config.get("population") or 100)
    search = _search_arrays(store)
    entries = pareto_front(store)
    name = folder.resolve().name

    pngs: dict[str, bytes] = {}
    pngs["fitness"] = plot_fitness(search["fitness"], population, seed,
                                   f"{name}: fitness on {config.get('task')}")
    meta = _scores(store, search["id"], "metaval")
    if meta:
        pngs["metaval"] = plot_beside_proxy(
            best_so_far(search["fitness"]), meta[0], meta[1], f"meta-validation ({meta[2]})",
            "meta-validation fitness", f"{name}: meta-validation")
    promoted = _scores(store, search["id"], "promoted")
    if promoted:
        pngs["promotion"] = plot_beside_proxy(
            best_so_far(search["fitness"]), promoted[0], promoted[1],
            f"promoted score ({promoted[2]})", "promoted score (mean log loss ratio to AdamW)",
            f"{name}: promotion", running_best=True)
    pngs["pareto"] = plot_pareto(entries, seed, f"{name}: best program per (length, memory)")
    pngs["throughput"] = plot_throughput(search["created"], search["cached"],
                                         f"{name}: throughput")
    for key, png in pngs.items():
        _write_atomic(folder / f"{key}.png", png)

    report = _html(store, summary, config, entries, pngs, name, len(meta[0]) if meta else 0)
    path = folder / REPORT
    _write_atomic(path, report.encode("utf-8"))
    return path


def _html(store: RunStore, summary: dict, config: dict, entries: list[HallEntry],
          pngs: dict[str, bytes], name: str, n_meta: int) -> str:
    seeds = summary["seeds"]
    seed = min((s["fitness"] for s in seeds if s["fitness"] is not None), default=None)
    best = summary["best"]
    trained, budget = summary["evaluations"], summary["budget"]
    facts = [f"state <b>{_e(summary['state'])}</b>", f"task <b>{_e(summary['task'])}</b>",
             f"trained <b>{trained}</b> / {_e(budget)}",
             f"cache hits <b>{summary['cache_hits']}</b> "
             f"({100 * summary['cache_hit_rate']:.0f}%)",
             f"seed fitness <b>{_num(seed)}</b>",
             f"best <b>{_num(best['fitness']) if best else 'none yet'}</b>"
             + (f" (#{best['id']})" if best else "")]
    if best and seed is not None and best["fitness"] is not None:
        delta = format_delta(best["fitness"], seed, is_relative(store)).removesuffix(" vs seed")
        facts.append(f"vs seed <b>{_e(delta)}</b>")
    body = [f"<h1>lion-search run {_e(name)}</h1>",
            f'<p class="sub">{_e(summary["run"])} &middot; report written '
            f'{time.strftime("%Y-%m-%d %H:%M:%S")}</p>',
            '<div class="facts">' + "".join(f"<span>{f}</span>" for f in facts) + "</div>"]

    body.append('<h2>Plots</h2><div class="plots">')
    body.append(_img("fitness", pngs["fitness"], "fitness against search evaluations"))
    if "metaval" in pngs:
        body.append(_img("metaval", pngs["metaval"], "meta-validation against evaluations"))
        body.append(f"<p>{n_meta} meta-validation evaluation(s): the best program so far, "
                    "re-evaluated on a larger held-out task.</p>")
    else:
        body.append("<p>No meta-validation evaluations in this run.</p>")
    if "promotion" in pngs:
        body.append(_img("promotion", pngs["promotion"], "promoted scores against evaluations"))
        body.append("<p>Promotion: the best distinct programs, re-trained during the search on "
                    "larger tasks; the run's best is the best by promoted score.</p>")
    body.append(_img("pareto", pngs["pareto"], "Pareto front of fitness, memory and length"))
    body.append(_img("throughput", pngs["throughput"], "evaluations/s and cache hit rate"))
    body.append("</div>")

    if best:
        promoted = f", promoted score {_num(best['promoted'])}" if best["by"] == "promoted score" \
            else ""
        body.append(f"<h2>Best program by {best['by']} (#{best['id']}, fitness "
                    f"{_num(best['fitness'])}{promoted})</h2>")
        if best["simplified"]:
            body.append("<p>Simplified (<code>lion-search simplify</code>):</p>"
                        f"<pre>{_e(best['simplified'])}</pre><p>As the search found it:</p>")
        body.append(f"<pre>{_e(best['program'])}</pre>")
        if best["lr_warning"]:
            body.append(f'<p class="fail">Warning: {_e(best["lr_warning"])}.</p>')
        body.append("<details><summary>its lineage from the seed</summary>"
                    f"{_lineage_html(store, best['id'])}</details>")

    body.append(f"<h2>Top {len(summary['top'])} programs</h2>")
    body.append(_table(
        ["id", "fitness", "promoted", "vs seed", "memory", "length", "found at eval",
         "cache hits", "program"],
        [[f"#{r['id']}", _num(r["fitness"]), _num(r["promoted"]) if r["was_promoted"] else "",
          _e(r["vs_seed"].removesuffix(" vs seed")), str(r["memory"]),
          str(r["length"]), str(r["evaluation"]), str(r["cache_hits"]),
          f"<pre>{_e(r['program'])}</pre>"] for r in summary["top"]], {8}))

    front = [e for e in entries if e.on_front]
    body.append(f"<h2>Pareto front ({len(front)} of {len(entries)} (length, memory) "
                "cells)</h2><p>Programs no other program beats on fitness, memory cost and "
                "length at once. All cells: <code>hall_of_fame.csv</code>.</p>")
    body.append(_table(["id", "fitness", "memory", "length", "found at eval", "program"],
                       [[f"#{e.id}", _num(e.fitness), str(e.memory), str(e.length),
                         str(e.evaluation) if e.evaluation else store.program(e.id).origin,
                         f"<pre>{_e(e.program)}</pre>"] for e in front], {5}))

    body.append("<h2>Seeds</h2>")
    body.append(_table(["name", "id", "lr scale", "fitness"],
                       [[_e(s["name"]), f"#{s['id']}", f"{s['lr_scale']:g}",
                         _num(s["fitness"])] for s in seeds], {0}))

    funnel, problem = read_funnel(store.folder)
    if funnel is not None or problem:
        body.append("<h2>Funnel</h2>")
        body.append(funnel_html(funnel) if funnel is not None else f"<p>{_e(problem)}</p>")

    body.append("<h2>Run config</h2>")
    body.append(_table(["setting", "value"],
                       [[_e(k), f"<code>{_e(json.dumps(v))}</code>"]
                        for k, v in sorted(config.items())], {0, 1}))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>lion-search: {_e(name)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
