"""`progress`: how fast runs found programs that transfer. Groups of runs (evolution, random
search, ... over several search seeds) side by side: each group's best promoted score, and its
best proxy fitness, at equal budgets of trained evaluations, with the spread over its runs, and
a plot of the promoted score."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from lion_search.cli.display import console
from lion_search.language.errors import LionSearchError

if TYPE_CHECKING:
    from lion_search.inspect.progress import Measure


def parse_groups(specs: list[str]) -> dict[str, list[str]]:
    """`NAME=RUN,RUN` (or a bare RUN, a group of one named by its folder) -> {name: runs}."""
    groups: dict[str, list[str]] = {}
    for spec in specs:
        name, _, runs = spec.rpartition("=") if "=" in spec else (Path(spec).name, "", spec)
        folders = [r for r in runs.split(",") if r]
        if not name or not folders:
            raise LionSearchError(f"a group is NAME=RUN,RUN or one RUN, got {spec!r}")
        if name in groups:
            raise LionSearchError(f"group {name!r} is given twice; each name once")
        groups[name] = folders
    return groups


def promotion_setting(config: dict) -> tuple:
    """What a promoted score depends on: promotion tasks, score rule, reference trials, seeds."""
    from lion_search.search.config import EvolveConfig

    c = EvolveConfig.from_json(config)
    return c.promotion[0], c.promote_score, c.promote_trials, c.seeds


def cmd_progress(args: argparse.Namespace) -> None:
    """Print each group's best promoted score and best proxy fitness at equal budgets (mean ±
    sd over its runs), and plot the promoted score against trained evaluations."""
    from lion_search.inspect import progress
    from lion_search.inspect.plots import plot_progress
    from lion_search.runs.journal import RunStore, resolve_run

    groups = parse_groups(args.groups)
    runs, settings = {}, {}
    for name, folders in groups.items():
        runs[name] = []
        for folder in folders:
            store = RunStore.open(resolve_run(folder))
            try:
                settings[folder] = promotion_setting(store.config)
                runs[name].append(progress.run_progress(store))
            finally:
                store.close()
    if len(set(settings.values())) > 1:
        raise LionSearchError("the runs' promoted scores are not comparable: they differ in "
                              "promotion tasks, score rule, reference trials or seeds ("
                              + "; ".join(f"{f}: {s}" for f, s in settings.items()) + ")")
    everyone = [r for group in runs.values() for r in group]
    budget = progress.common_budget(everyone)
    if budget < 1:
        raise LionSearchError("a run has no trained evaluation yet: nothing to compare")
    marks = progress.checkpoints(budget, args.checkpoints)
    console.print(f"mean ± sd over each group's runs, at equal budgets of trained evaluations "
                  f"(up to {budget:,}, the least any run reached); lower is better")
    for measure in progress.Measure:
        summaries = [progress.summarize_group(name, group, marks, measure)
                     for name, group in runs.items()]
        head, rows = _rows(summaries, measure)
        table = Table(title=measure.value + (" (below 0 beats tuned AdamW on every promotion "
                                             "task)" if measure is progress.Measure.PROMOTED
                                             else " (the search's own yardstick)"))
        for column in head:
            table.add_column(column, justify="left" if column == head[0] else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        if args.markdown:
            print("\n".join("| " + " | ".join(row) + " |"
                            for row in (head, ["---"] * len(head), *rows)))
    grid = progress.budget_grid(budget)
    curves = {name: (grid, *progress.spread(group, grid)) for name, group in runs.items()}
    path = plot_progress(curves, args.plot, "best promoted score against trained evaluations")
    console.print(f"plot: {path}")


def _rows(summaries: list, measure: "Measure") -> tuple[list[str], list[list[str]]]:
    """A table's head and rows: each group's best at each checkpoint (and, for the promoted
    score, how many runs ended below 0)."""
    from lion_search.inspect.progress import Measure

    promoted = measure is Measure.PROMOTED
    head = [measure.value, "runs", *(f"{n:,}" for n in summaries[0].budgets),
            *(["below 0 at the end"] if promoted else [])]
    return head, [[s.name, str(s.runs), *(_cell(m, d, promoted) for m, d in zip(s.mean, s.std)),
                   *([f"{s.below_zero} of {s.runs}"] if promoted else [])] for s in summaries]


def _cell(mean: float, std: float, signed: bool) -> str:
    """The mean ± sd (the mean alone for one run, whose spread is NaN); a score's sign."""
    if not math.isfinite(mean):
        return "none yet"
    value = f"{mean:+.4f}" if signed else f"{mean:.4g}"
    return value if math.isnan(std) else f"{value} ± {std:.2g}"
