"""`show`: what a run found (its summary, or the lineage of one of its programs), or one
program with its memory cost."""
from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from lion_search.cli.display import console, fitness_text, seeds_text, verdict_lines, warn

if TYPE_CHECKING:
    from lion_search.language.program import Program
    from lion_search.runs.journal import ProgramRow


def cmd_show(args: argparse.Namespace) -> None:
    """Print a run's summary, or one program and its memory cost."""
    from lion_search.analysis.retune import relate
    from lion_search.language.parser import parse_program
    from lion_search.language.shapes import format_cost, memory_cost
    from lion_search.runs.references import (
        is_run,
        load_program,
        program_in_run,
        split_run_ref,
    )

    if is_run(args.target):
        return show_lineage(args) if args.lineage else show_run(args)
    ref = split_run_ref(args.target)
    if ref:
        row, fitness = program_in_run(*ref)
        program = parse_program(row.text, source=args.target)
        steps, warning = _in_run(ref[0], row, program, None if args.json else 0)
    else:
        from lion_search.analysis.lr_check import lr_warning

        program = load_program(args.target)
        fitness, steps, warning = None, [], lr_warning(program)
    relation = relate(program)
    if args.json:
        from lion_search.inspect.lineage import lineage_json

        print(json.dumps({"name": program.name, "memory": memory_cost(program),
                          "slots": program.slots,
                          "length": len(program), "program": str(program),
                          "lr_warning": warning, "relation": relation.to_json(),
                          **({"fitness": fitness if math.isfinite(fitness) else None,
                              "ancestry": lineage_json(steps)} if ref else {})}, indent=2))
        return
    extra = f", fitness {fitness_text(fitness)}" if ref else ""
    console.print(f"# {program.name}: memory cost {format_cost(memory_cost(program))} "
                  f"(parameter-sized copies, {program.slots} slot(s)), "
                  f"{len(program)} instruction(s){extra}")
    console.print(str(program), end="")
    console.print(relation.describe(), markup=False, highlight=False)
    warn(warning)
    if steps:
        console.print("ancestry: " + " <- ".join(
            f"#{s.id} ({fitness_text(s.fitness)})" for s in reversed(steps)))


def _in_run(folder: Path, row: ProgramRow, program: Program, diffs: int | None
            ) -> tuple[list, str | None]:
    """A run's program's ancestry (`diffs`: the last steps that get their diff, None: all) and
    its lr check's warning (one journal opened for both)."""
    from lion_search.inspect.lineage import ancestry
    from lion_search.runs.journal import RunStore
    from lion_search.runs.lr_checked import lr_warning_in_run

    store = RunStore.open(folder)
    try:
        return ancestry(store, row.id, diffs), lr_warning_in_run(store, row, program)
    finally:
        store.close()


def _ancestry(folder: Path, ref: str) -> list:
    from lion_search.inspect.lineage import ancestry
    from lion_search.runs.journal import RunStore
    from lion_search.runs.references import program_in_run

    row, _ = program_in_run(folder, ref)
    store = RunStore.open(folder)
    try:
        return ancestry(store, row.id)
    finally:
        store.close()


def show_lineage(args: argparse.Namespace) -> None:
    """The chain of mutations from the seed to a program, each step as a diff."""
    from lion_search.inspect.lineage import format_lineage, lineage_json
    from lion_search.runs.journal import resolve_run

    steps = _ancestry(resolve_run(args.target), args.lineage)
    if args.json:
        print(json.dumps(lineage_json(steps), indent=2))
    else:
        console.print(format_lineage(steps), markup=False)


def show_run(args: argparse.Namespace) -> None:
    """The summary of a run folder: counts, seeds, top programs and the best program."""
    from lion_search.inspect.summary import format_startup, summarize
    from lion_search.language.shapes import format_cost
    from lion_search.runs.journal import RunStore, resolve_run
    from lion_search.runs.verdict import PROMOTED_SCORES

    store = RunStore.open(resolve_run(args.target))
    try:
        summary = summarize(store, args.top)
    finally:
        store.close()
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    console.print(f"run {summary['run']} ({summary['state']}): task {summary['task']}, "
                  f"{summary['evaluations']}/{summary['budget']} evaluations trained, "
                  f"{summary['cache_hits']} cache hits ({100 * summary['cache_hit_rate']:.0f}%)")
    console.print(summary["proposals"]["describe"])
    for island in summary["islands"]:
        console.print(f"island {island['island']}: {island['children']} children, best "
                      + (f"#{island['best']} (fitness {fitness_text(island['fitness'])})"
                         if island["best"] is not None else "none")
                      + f", {island['migrants_in']} migrants in")
    if summary["restarts"]:
        console.print(f"restarts: {len(summary['restarts'])}, "
                      + "; ".join(f"from the {r['source']} after {r['at']:,} trained evaluations"
                                  for r in summary["restarts"]))
    if summary["startup"]:
        console.print(f"start-up: {format_startup(summary['startup'])}")
    for ref in summary["references"]:
        console.print(f"reference adamw on {ref['task']} (#{ref['id']}, lr x{ref['lr_scale']:g}): "
                      f"val loss {fitness_text(ref['fitness'])}")
    if summary["references"]:
        console.print(f"fitness: {summary['fitness_rule']}")
    for seed in summary["seeds"]:
        console.print(f"seed {seed['name']} (#{seed['id']}, lr x{seed['lr_scale']:g}): "
                      f"fitness {fitness_text(seed['fitness'])}")
    promotion = summary["promotion"]
    if promotion["tasks"]:
        console.print(f"{promotion['promoted']} program(s) promoted to "
                      f"{', '.join(promotion['tasks'])}; promoted score: "
                      f"{PROMOTED_SCORES[promotion['score']]}")
        if promotion.get("screen"):
            console.print(f"screen: {promotion['screened']} leader(s) trained on "
                          f"{', '.join(promotion['screen'])} first, the best of each round "
                          "by the mean log ratio of their loss to the seed's promoted")
        budget = promotion.get("budget") or {}
        if budget:
            console.print(f"promotion budget per task: reference {budget['reference']}; "
                          f"candidates {budget['candidates']}")
        if budget.get("note"):
            console.print(f"[bold yellow]note:[/] {budget['note']}")
    for line in verdict_lines(summary):
        console.print(line)
    table = Table(title="best programs by proxy fitness")
    for column in ("id", "fitness", "seeds", "promoted", "vs seed", "memory", "length",
                   "found at", "cache hits", "relation"):
        table.add_column(column, justify="right")
    for row in summary["top"]:
        table.add_row(str(row["id"]), fitness_text(row["fitness"]), seeds_text(row),
                      fitness_text(row["promoted"]) if row["was_promoted"] else "",
                      row["vs_seed"].removesuffix(" vs seed"),
                      format_cost(row["memory"]), str(row["length"]), f"eval {row['evaluation']}",
                      str(row["cache_hits"]), row["relation"]["label"])
    console.print(table)
    if summary["best"]:
        best = summary["best"]
        scores = f"fitness {fitness_text(best['fitness'])}" + (
            f", promoted score {fitness_text(best['promoted'])}" if best["by"] == "promoted score"
            else "")
        console.print(f"best program by {best['by']} (#{best['id']}; {scores})"
                      + (", simplified:" if best["simplified"] else
                         f"; `lion-search simplify {summary['run']}:best` cleans it up:"))
        console.print(best["simplified"] or best["program"], end="")
        console.print(best["relation"]["headline"], markup=False, highlight=False)
        warn(best["lr_warning"])
