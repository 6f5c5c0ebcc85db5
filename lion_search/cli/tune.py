"""`tune`: a program's learning rate and hyperparameters tuned on a task with Optuna
(evaluation.tuning), the best configuration printed with its loss over the seeds and the runs
it took, and with -o the tuned program written as a program file."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from rich.table import Table

from lion_search.cli.display import console, fitness_text


def cmd_tune(args: argparse.Namespace) -> None:
    """Tune one program on one task; print the best setting; write it with -o."""
    from lion_search.evaluation.tasks import get_task
    from lion_search.evaluation.tuning import (TuneSpec, declaration_for, program_file_text,
                                               studies_path, tune)
    from lion_search.language.errors import LionSearchError
    from lion_search.runs.references import load_program

    if args.trials < 1 or args.tune_constants is not None and args.tune_constants < 0:
        raise LionSearchError("--trials must be 1 or more and --tune-constants 0 or more")
    program = load_program(args.program)
    declaration = declaration_for(args.program, program)
    task = get_task(args.task, args.schedule, args.steps, args.batch)
    spec = TuneSpec(trials=args.trials, constants=args.tune_constants)
    with console.status(f"tuning {program.name} on {task.name}") as status:
        tuned = tune(program, task, args.seeds, spec, declaration=declaration,
                     progress=status.update)
    console.print(tuned_table(tuned, f"{program.name} tuned on {task.name} ({task.steps} "
                                     f"steps, {task.schedule_name}), seeds "
                                     f"{','.join(map(str, args.seeds))}"))
    c = tuned.comparison
    per_seed = ", ".join(fitness_text(x) for x in c.result.per_seed)
    console.print(f"val loss {fitness_text(c.fitness)}" + (f" ±{c.spread:.2g} over "
                  f"{len(args.seeds)} seed(s) ({per_seed})" if math.isfinite(c.spread) else ""))
    console.print(f"budget: {tuned.budget.describe()}; trained now: {tuned.trained} runs"
                  + (" (the study was reused)" if tuned.trained == 0 else "")
                  + f"; studies in {studies_path()}")
    if args.output:
        Path(args.output).write_text(program_file_text(tuned, program, declaration, task,
                                                       args.seeds))
        console.print(f"wrote {args.output} (give it lr {c.lr:.6g}; `lion-search eval "
                      f"{args.output}` and `show`, `export` read it)")


def tuned_table(tuned, title: str) -> Table:
    """The tuned setting: the lr, and each hyperparameter tuned with its value before."""
    table = Table(title=title)
    for column in ("parameter", "before", "tuned"):
        table.add_column(column, justify="left" if column == "parameter" else "right")
    table.add_row("lr", "", f"{tuned.lr:.3g}")
    for name, before in tuned.start.items():
        table.add_row(name, f"{before:.4g}", f"{tuned.values.get(name, before):.4g}")
    return table
