"""The listings: the seed programs (`programs`), the proxy tasks and portfolios (`tasks`), and
the run folders (`runs`)."""
from __future__ import annotations

import argparse
import json

from rich.table import Table

from lion_search.cli.display import console


def cmd_programs(args: argparse.Namespace) -> None:
    """List the seed programs with their memory cost and length."""
    from lion_search.language.library import SEEDS_DIR, seed_names
    from lion_search.language.shapes import format_cost, memory_cost
    from lion_search.runs.references import load_program

    table = Table(title=f"Seed programs ({SEEDS_DIR})")
    table.add_column("name", no_wrap=True)
    table.add_column("memory", justify="right")
    table.add_column("length", justify="right")
    table.add_column("source")
    for name in seed_names():
        program = load_program(name)
        first = (SEEDS_DIR / f"{name}.py").read_text().splitlines()[0].lstrip("# ")
        table.add_row(name, format_cost(memory_cost(program)), str(len(program)),
                      first.split("),")[0] + ")")
    console.print(table)


def cmd_tasks(args: argparse.Namespace) -> None:
    """List the proxy tasks with their size and cost, and the named portfolios."""
    from lion_search.evaluation.portfolio import portfolios
    from lion_search.evaluation.tasks import FLIPS, schedule_names, task_table

    table = Table(title="Proxy tasks")
    for column in ("name", "scale", "params", "steps", "batch", "GFLOP/run", "description"):
        table.add_column(column, justify="right" if column in ("params", "steps", "batch",
                                                                "GFLOP/run") else "left")
    for info in task_table():
        table.add_row(info.name, info.scale, f"{info.n_params:,}", str(info.steps),
                      str(info.batch_size), f"{info.flops / 1e9:.2f}", info.description)
    console.print(table)
    console.print(f"schedules (--schedule): {', '.join(schedule_names())}")
    console.print(f"any task as NAME{FLIPS}: the same task, each training seed flipping the "
                  "signs of its parameters' axes (an optimizer that leans on one "
                  "parametrization's signs meets another on each seed)")
    for name, tasks in portfolios().items():
        console.print(f"portfolio (--task {name}): {', '.join(tasks)}")


def cmd_runs(args: argparse.Namespace) -> None:
    """List run folders."""
    from lion_search.runs.folders import list_runs, runs_json, runs_table

    infos = list_runs(args.root)
    if args.json:
        print(json.dumps(runs_json(infos), indent=2))
    elif not infos:
        console.print(f"no runs in {args.root}")
    else:
        console.print(runs_table(infos))
