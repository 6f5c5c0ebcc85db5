"""The report page: `write_report` draws the plots, writes them to the run folder and
assembles the self-contained RUN/report.html (plots embedded, top programs, Pareto front,
lineage, seeds, funnel and config); `read_funnel` reads RUN/funnel.json for it."""
from __future__ import annotations

import base64
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from lion_search.inspect.report.figures import (
    plot_beside_proxy,
    plot_fitness,
    plot_pareto,
    plot_throughput,
    plot_transfer,
)
from lion_search.inspect.report.series import (
    best_so_far,
    kind_scores,
    search_arrays,
    seed_fitness,
)
from lion_search.inspect.report.tables import (
    esc,
    funnel_html,
    html_table,
    lineage_html,
    num_text,
    relation_html,
)
from lion_search.inspect.summary import format_delta, is_relative, summarize
from lion_search.runs.hall_of_fame import HallEntry, pareto_front
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.transfer import transfer

REPORT = "report.html"
FUNNEL = "funnel.json"
PLOTS = ("fitness", "metaval", "promotion", "transfer", "pareto", "throughput")

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


def _img(name: str, png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<div><img id="plot-{name}" alt="{esc(alt)}" src="data:image/png;base64,{data}"></div>'


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
    seed = seed_fitness(store)
    population = int(config.get("population") or 100)
    search = search_arrays(store)
    entries = pareto_front(store)
    name = folder.resolve().name

    pngs: dict[str, bytes] = {}
    pngs["fitness"] = plot_fitness(search["fitness"], population, seed,
                                   f"{name}: fitness on {config.get('task')}")
    meta = kind_scores(store, search["id"], EvalKind.METAVAL)
    if meta:
        pngs["metaval"] = plot_beside_proxy(
            best_so_far(search["fitness"]), meta[0], meta[1], f"meta-validation ({meta[2]})",
            "meta-validation fitness", f"{name}: meta-validation")
    promoted = kind_scores(store, search["id"], EvalKind.PROMOTED)
    if promoted:
        pngs["promotion"] = plot_beside_proxy(
            best_so_far(search["fitness"]), promoted[0], promoted[1],
            f"promoted score ({promoted[2]})",
            f"promoted score ({config.get('promote_score', 'mean')} log loss ratio to AdamW)",
            f"{name}: promotion", running_best=True)
        now = transfer(store)
        pngs["transfer"] = plot_transfer(np.array([p.fitness for p in now.points]),
                                         np.array([p.score for p in now.points]), now.tau,
                                         f"{name}: proxy against promotion")
    pngs["pareto"] = plot_pareto(entries, seed, f"{name}: best program per (length, memory)")
    pngs["throughput"] = plot_throughput(search["created"], search["cached"],
                                         f"{name}: throughput")
    for key, png in pngs.items():
        _write_atomic(folder / f"{key}.png", png)

    report = _html(store, summary, config, entries, pngs, name, len(meta[0]) if meta else 0)
    path = folder / REPORT
    _write_atomic(path, report.encode("utf-8"))
    return path


def _transfer_html(record: dict) -> str:
    """The transfer's paragraph (`runs.transfer`): its tau, and the warning when it misleads."""
    html = (f"<p>{esc(record['describe'])} (1: the proxy ranks the promoted programs as the "
            "promotion tasks do; below 0: the other way round).</p>")
    if record["warning"]:
        html += f'<p class="fail">Warning: {esc(record["warning"])}.</p>'
    return html


def _verdict_html(summary: dict) -> str:
    """The run's best against the seed (`runs.verdict`), how far the reproductions moved and
    the held-back check (`search.held_back`), with its warning when the gains did not hold
    up."""
    html = f"<p>{esc(summary['verdict'])}.</p>" if summary["verdict"] else ""
    if summary["reproductions"]:
        html += f"<p>{esc(summary['reproductions']['describe'])}.</p>"
    held_back = summary["held_back"]
    if held_back:
        html += f"<p>{esc(held_back['describe'])}.</p>"
        if held_back["warning"]:
            html += f'<p class="fail">Warning: {esc(held_back["warning"])}.</p>'
    return html


def _proposals_html(summary: dict) -> str:
    """How the mutants fared, and the islands' table when the run had several."""
    html = f"<p>{esc(summary['proposals']['describe'])}.</p>"
    if summary["islands"]:
        rows = "".join(
            f"<tr><td>{i['island']}</td><td>{i['children']}</td>"
            f"<td>{'#' + str(i['best']) if i['best'] is not None else '-'}</td>"
            f"<td>{num_text(i['fitness'])}</td><td>{i['migrants_in']}</td></tr>"
            for i in summary["islands"])
        html += ("<table><tr><th>island</th><th>children</th><th>best</th><th>fitness</th>"
                 f"<th>migrants in</th></tr>{rows}</table>")
    return html


def _html(store: RunStore, summary: dict, config: dict, entries: list[HallEntry],
          pngs: dict[str, bytes], name: str, n_meta: int) -> str:
    seeds = summary["seeds"]
    seed = min((s["fitness"] for s in seeds if s["fitness"] is not None), default=None)
    best = summary["best"]
    trained, budget = summary["evaluations"], summary["budget"]
    facts = [f"state <b>{esc(summary['state'])}</b>", f"task <b>{esc(summary['task'])}</b>",
             f"trained <b>{trained}</b> / {esc(budget)}",
             f"cache hits <b>{summary['cache_hits']}</b> "
             f"({100 * summary['cache_hit_rate']:.0f}%)",
             f"seed fitness <b>{num_text(seed)}</b>",
             f"best <b>{num_text(best['fitness']) if best else 'none yet'}</b>"
             + (f" (#{best['id']})" if best else "")]
    if best and seed is not None and best["fitness"] is not None:
        delta = format_delta(best["fitness"], seed, is_relative(store)).removesuffix(" vs seed")
        facts.append(f"vs seed <b>{esc(delta)}</b>")
    body = [f"<h1>lion-search run {esc(name)}</h1>",
            f'<p class="sub">{esc(summary["run"])} &middot; report written '
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
        body.append(_img("transfer", pngs["transfer"], "promoted score against proxy fitness"))
        body.append(_transfer_html(summary["transfer"]))
    body.append(_verdict_html(summary))
    body.append(_img("pareto", pngs["pareto"], "Pareto front of fitness, memory and length"))
    body.append(_img("throughput", pngs["throughput"], "evaluations/s and cache hit rate"))
    body.append(_proposals_html(summary))
    body.append("</div>")

    if best:
        promoted = f", promoted score {num_text(best['promoted'])}" \
            if best["by"] == "promoted score" else ""
        body.append(f"<h2>Best program by {best['by']} (#{best['id']}, fitness "
                    f"{num_text(best['fitness'])}{promoted})</h2>")
        if best["simplified"]:
            body.append("<p>Simplified (<code>lion-search simplify</code>):</p>"
                        f"<pre>{esc(best['simplified'])}</pre><p>As the search found it:</p>")
        body.append(f"<pre>{esc(best['program'])}</pre>")
        body.append(f"<p>{relation_html(best['relation'])}</p>")
        if best["lr_warning"]:
            body.append(f'<p class="fail">Warning: {esc(best["lr_warning"])}.</p>')
        body.append("<details><summary>its lineage from the seed</summary>"
                    f"{lineage_html(store, best['id'])}</details>")

    body.append(f"<h2>Top {len(summary['top'])} programs</h2>")
    body.append(html_table(
        ["id", "fitness", "promoted", "vs seed", "memory", "length", "found at eval",
         "cache hits", "program", "relation to the seeds"],
        [[f"#{r['id']}", num_text(r["fitness"]),
          num_text(r["promoted"]) if r["was_promoted"] else "",
          esc(r["vs_seed"].removesuffix(" vs seed")), str(r["memory"]),
          str(r["length"]), str(r["evaluation"]), str(r["cache_hits"]),
          f"<pre>{esc(r['program'])}</pre>", esc(r["relation"]["headline"])]
         for r in summary["top"]], {8, 9}))

    front = [e for e in entries if e.on_front]
    body.append(f"<h2>Pareto front ({len(front)} of {len(entries)} (length, memory) "
                "cells)</h2><p>Programs no other program beats on fitness, memory cost and "
                "length at once. All cells: <code>hall_of_fame.csv</code>.</p>")
    body.append(html_table(["id", "fitness", "memory", "length", "found at eval", "program"],
                       [[f"#{e.id}", num_text(e.fitness), str(e.memory), str(e.length),
                         str(e.evaluation) if e.evaluation else store.program(e.id).origin,
                         f"<pre>{esc(e.program)}</pre>"] for e in front], {5}))

    body.append("<h2>Seeds</h2>")
    body.append(html_table(["name", "id", "lr scale", "fitness"],
                       [[esc(s["name"]), f"#{s['id']}", f"{s['lr_scale']:g}",
                         num_text(s["fitness"])] for s in seeds], {0}))

    funnel, problem = read_funnel(store.folder)
    if funnel is not None or problem:
        body.append("<h2>Funnel</h2>")
        body.append(funnel_html(funnel) if funnel is not None else f"<p>{esc(problem)}</p>")

    body.append("<h2>Run config</h2>")
    body.append(html_table(["setting", "value"],
                       [[esc(k), f"<code>{esc(json.dumps(v))}</code>"]
                        for k, v in sorted(config.items())], {0, 1}))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>lion-search: {esc(name)}</title><style>{_CSS}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")
