"""HTML escaping and tables for the report page: the generic table (from escaped cells), the
funnel table (RUN/funnel.json) and the best program's lineage with its diffs."""
from __future__ import annotations

import html
import math
from typing import Any

from lion_search.inspect.lineage import ancestry
from lion_search.runs.journal import RunStore


def esc(x: Any) -> str:
    return html.escape(str(x))


def num_text(x: float | None) -> str:
    return "failed" if x is None or not math.isfinite(x) else f"{x:.4g}"


def html_table(head: list[str], rows: list[list[str]], left: set[int] = frozenset(),
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
    text = num_text(fitness)
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
        budget = stage.get("budget", {})
        notes = "; ".join(([f"seeds {seeds}"] if seeds else []) +
                          ([f"pass rule {stage['rule']}"] if stage.get("rule") else []) +
                          [f"{side}: {text} per task" for side, text in budget.items()])
        parts.append(f"<h3>Stage {esc(stage.get('name', '?'))}: {esc(', '.join(tasks))}"
                     + (f" ({esc(notes)})" if notes else "") + "</h3>")
        rows, classes = [], []
        for baseline in stage.get("baselines", []):
            results = baseline.get("results", {})
            rows.append([esc(baseline.get("name", "")), "baseline",
                         *(_result_cell(results.get(t)) for t in tasks), _budget(results), ""])
            classes.append("")
        for candidate in stage.get("candidates", []):
            results = candidate.get("results", {})
            passed = candidate.get("passed")
            said = esc(candidate.get("verdict") or ("passed" if passed else "out"))
            verdict = (f'<span class="pass">{said}</span>' if passed else
                       f'<span class="fail">{said}</span>' if passed is not None else "")
            name = candidate.get("name", "")
            ident = candidate.get("id")
            rows.append([esc(name) + (f" <small>#{esc(ident)}</small>" if ident is not None
                                     else ""), "candidate",
                         *(_result_cell(results.get(t)) for t in tasks), _budget(results),
                         verdict])
            classes.append("win" if passed else "")
        parts.append(html_table(["optimizer", "kind", *(esc(t) for t in tasks),
                             "tuning budget (first task)", "verdict"], rows, {0, 1}, classes))
    entrants = funnel.get("candidates", [])
    if entrants:
        parts.append("<h3>Candidates</h3>")
        parts.append(html_table(["name", "id", "program", "relation to the seeds"],
                            [[esc(c.get("name", "")), esc(c.get("id", "")),
                              f"<pre>{esc(c.get('program', ''))}</pre>"
                              + (f'<p class="fail">Warning: {esc(c["lr_warning"])}.</p>'
                                 if c.get("lr_warning") else ""),
                              relation_html(c.get("relation"))] for c in entrants], {0, 2, 3}))
    winners = funnel.get("winners", [])
    if winners:
        parts.append("<h3>Winners</h3>")
        parts.append(html_table(["name", "id", "stage", "exported to", "relation to the seeds"],
                            [[esc(w.get("name", "")), esc(w.get("id", "")), esc(w.get("stage", "")),
                              f"<code>{esc(w.get('path', ''))}</code>", esc(w.get("relation", ""))]
                             for w in winners], {0, 3, 4}))
    elif funnel.get("stages"):
        parts.append("<p>No winner: no candidate beat the baselines through the last stage.</p>")
    return "\n".join(parts)


def _budget(results: dict) -> str:
    """What the tuning of a row's first task spent (empty for records from before budgets)."""
    first = next(iter(results.values()), None) or {}
    return esc(first.get("budget", {}).get("text", ""))


def relation_html(relation: dict | None) -> str:
    """A program's relation to the seeds (`analysis.retune`): its headline, and for new
    structure the diff to the nearest seed; empty for records written before it existed."""
    if not relation:
        return ""
    diff = relation.get("diff")
    return esc(relation.get("headline", "")) + (f"<pre>{esc(diff)}</pre>" if diff else "")


def _diff_html(diff: str) -> str:
    lines = []
    for line in diff.splitlines():
        cls = "diff-add" if line.startswith("+") else "diff-del"
        lines.append(f'<span class="{cls}">{esc(line)}</span>')
    return "<pre>" + "\n".join(lines) + "</pre>" if lines else ""


def lineage_html(store: RunStore, program_id: int, limit: int = 60) -> str:
    """The lineage table: the seed, then the last `limit` steps (a long chain is cut)."""
    steps = ancestry(store, program_id, diffs=limit)
    rows = []
    for i, s in enumerate(steps):
        if 0 < i < len(steps) - limit:
            if i == 1:
                rows.append(["", "", f"<i>{len(steps) - 1 - limit} earlier step(s) left out: "
                             f"lion-search show RUN --lineage {program_id}</i>", "", "", ""])
            continue
        delta = "" if i == 0 or not math.isfinite(s.delta) else f"{s.delta:+.4g}"
        rows.append([f"#{s.id}", esc(s.origin if i == 0 else f"step {i}"),
                     esc(s.mutation), num_text(s.fitness), delta, _diff_html(s.diff)])
    return html_table(["id", "", "mutation", "fitness", "change", "diff"], rows, {1, 2, 5})
