"""What users do with a run once it has searched: `simplify` a program, re-test the best on
larger tasks (`funnel`), write the HTML `report`, and `salvage` a damaged journal."""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.table import Table

from lion_search.cli.display import console, warn
from lion_search.cli.evolve import writer_lock


def cmd_simplify(args: argparse.Namespace) -> None:
    """Simplify a program: dead code, rewrite rules, then ablation on the proxy. A run's
    program is scored as the run scores it, and the result is saved in the run."""
    from lion_search.analysis.lr_check import lr_warning
    from lion_search.evaluation.fitness import Evaluator
    from lion_search.runs.journal import RunStore
    from lion_search.runs.references import load_program, program_in_run, split_run_ref
    from lion_search.selection.simplify_run import keeping_lr, simplify_in_run
    from lion_search.simplify.pipeline import format_report, simplify

    ref = split_run_ref(args.program)
    if ref:
        with writer_lock(ref[0], "lion-search simplify"):   # it saves the result into the run
            row, _ = program_in_run(*ref)
            store = RunStore.open(ref[0])
            try:
                with console.status(f"simplifying #{row.id}" + ("" if args.no_ablation else
                                    f" (ablation on {store.config.get('task')})")):
                    report, pid = simplify_in_run(store, row.id, args.tolerance,
                                                  not args.no_ablation)
            finally:
                store.close()
    else:
        program = load_program(args.program)
        evaluator = Evaluator(args.task or "digits-mlp")
        score = None if args.no_ablation else \
            keeping_lr(lambda p: evaluator.evaluate(p).fitness, program)
        with console.status("simplifying" + ("" if score is None else
                                             f" (ablation on {evaluator.task.name})")):
            report = simplify(program, score, args.tolerance)
    console.print(format_report(report), markup=False)
    warn(lr_warning(report.after))
    if ref:
        console.print(f"saved in the run as #{pid} ({ref[0]}:{pid}); `lion-search export "
                      f"{args.program} -o FILE.py` exports it")
    if args.output:
        Path(args.output).write_text(str(report.after))
        console.print(f"wrote {args.output}")


def cmd_report(args: argparse.Namespace) -> None:
    """Write a run's HTML report and plots."""
    from lion_search.inspect.report.page import write_report
    from lion_search.runs.hall_of_fame import write_hall_of_fame
    from lion_search.runs.journal import RunStore, resolve_run

    store = RunStore.open(resolve_run(args.run))
    try:
        with console.status("plotting"):
            write_hall_of_fame(store)
            path = write_report(store)
    finally:
        store.close()
    console.print(f"wrote {path} (open it in a browser) and its plots in {path.parent}")


def cmd_salvage(args: argparse.Namespace) -> None:
    """Recover what is readable of a damaged journal (lion_search/runs/salvage.py), holding
    the writer lock of a run it overwrites (--force)."""
    from lion_search.runs.journal import resolve_run
    from lion_search.runs.salvage import salvage, salvage_target

    run = resolve_run(args.run)
    with writer_lock(salvage_target(run, args.out), "lion-search salvage"):
        report = salvage(run, args.out, args.force)
    console.print(report.summary(), markup=False)


def cmd_funnel(args: argparse.Namespace) -> None:
    """Re-test a run's best programs on larger tasks against tuned baselines, holding the
    run's writer lock (it writes RUN/funnel.json and RUN/winners/; taken before JAX is imported,
    so that it is refused at once while a search writes the run)."""
    from lion_search.runs.journal import resolve_run

    folder = resolve_run(args.run)
    with writer_lock(folder, "lion-search funnel"):
        record = _funnel_record(args, folder)
    for candidate in record["candidates"]:
        console.print(f"{candidate['name']} (#{candidate['id']}):")
        console.print(candidate["program"], end="", markup=False)
        console.print(candidate["relation"]["headline"], markup=False, highlight=False)
        warn(candidate["lr_warning"])
    for stage in record["stages"]:
        console.print(funnel_table(stage))
    for winner in record["winners"]:
        lrs = ", ".join(f"{task} {lr:.3g}" for task, lr in winner["learning_rate"].items())
        console.print(f"winner {winner['name']} (#{winner['id']}, {winner['relation']}, passed "
                      f"stage {winner['stage']}):"
                      f" {Path(record['run']) / winner['path']} (its tuned lr per task: {lrs};"
                      " with the constants tuned there, in funnel.json)")
    if not record["winners"]:
        console.print("no candidate passed the second stage")
    console.print(f"wrote {Path(record['run']) / 'funnel.json'}")


def _funnel_record(args: argparse.Namespace, folder: Path) -> dict:
    """Run the funnel on the run in `folder`; its record (also written to RUN/funnel.json)."""
    from lion_search.evaluation.stages import DEFAULT_STAGES
    from lion_search.runs.journal import RunStore
    from lion_search.selection.funnel import run_funnel
    from lion_search.simplify.rules import rewrite

    store = RunStore.open(folder)
    try:
        with console.status("funnel") as status:
            return run_funnel(store, args.top, args.stages or DEFAULT_STAGES,
                              prepare=lambda p: rewrite(p)[0], progress=status.update,
                              tune=args.tune)
    finally:
        store.close()


def funnel_table(stage: dict) -> Table:
    """One stage as a table: every optimizer's loss (mean over seeds +- spread) and lr per task,
    and what its tuning spent; the title gives each side's budget."""
    budget = "; ".join(f"{side}: {text} per task" for side, text in stage.get("budget", {}).items())
    table = Table(title=f"stage {stage['name']} ({stage['rule']}; seeds "
                        f"{','.join(map(str, stage['seeds']))}" + (f"; {budget}" if budget else "")
                        + ")")
    table.add_column("optimizer")
    for task in stage["tasks"]:
        table.add_column(f"{task}\nval loss (lr)", justify="right")
    table.add_column("runs per task", justify="right")
    table.add_column("verdict", justify="center")
    rows = [(b["name"], b["results"], "baseline") for b in stage["baselines"]]
    rows += [(c["name"], c["results"], c.get("verdict") or ("passes" if c["passed"] else "out"))
             for c in stage["candidates"]]
    for name, results, passed in rows:
        cells = []
        for task in stage["tasks"]:
            r = results.get(task)
            cells.append("" if r is None else "failed" if r["fitness"] is None else
                         f"{r['fitness']:.4g} ±{r['spread']:.2g} ({r['lr']:.2g})")
        runs = sorted({r["budget"]["runs"] for r in results.values() if "budget" in r})
        table.add_row(name, *cells, "/".join(map(str, runs)), passed)
    return table
