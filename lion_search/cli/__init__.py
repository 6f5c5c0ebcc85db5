"""The `lion-search` command line: one subcommand per user task; every error is one line.

    lion-search evolve [--budget N]          run a search (the main job)
    lion-search show RUN | RUN:ID | NAME     what a run found, or one program
    lion-search export PROGRAM -o F.py       a standalone optax module (jax + optax only)
    lion-search programs | tasks             the seed programs, the proxy tasks
    lion-search eval PROGRAM --vs adamw,lion a fair comparison: each tuned on the same budget
    lion-search tune PROGRAM --task T        a program's lr and hyperparameters tuned (Optuna)
    lion-search bench                        candidates/s of each evaluation path

Each command imports the modules it needs (JAX among them) when it runs, so that
`lion-search --help` answers at once.

Modules, in the order data flows (each imports only those above it):

    display       the console every command prints to; fitness and lr-warning formatting
    listings      `programs`, `tasks`, `runs`: the seed programs, proxy tasks, run folders
    show          `show`: a run's summary, a program's lineage, or one program
    export        `export`: a program as an optax module or a torch optimizer
    evaluate      `eval` (against baselines, each tuned on the same budget) and `bench`
                  (candidates/s, start-up)
    tune          `tune`: one program's lr and hyperparameters tuned on a task, -o writes it
    evolve        `evolve`: run or resume a search; the config from the arguments, Ctrl-C
                  handling, GPU workers where JAX sees GPUs, the outcome printed at the end
    after_search  `simplify`, `funnel`, `report`, `salvage`: what follows a run's search
    parser        `build_parser`: every subcommand's arguments
    entry         `main`, the console script (`python -m lion_search.cli` runs it too)
"""
from lion_search.cli.after_search import (
           cmd_funnel,
           cmd_report,
           cmd_salvage,
           cmd_simplify,
           funnel_table,
)
from lion_search.cli.display import console, fitness_text, warn
from lion_search.cli.entry import main
from lion_search.cli.evaluate import (
           EVAL_PLOTS,
           bench_population,
           bench_startup,
           cmd_bench,
           cmd_eval,
)
from lion_search.cli.evolve import (
           cmd_evolve,
           with_gpu_workers,
)
from lion_search.cli.export import cmd_export
from lion_search.cli.listings import cmd_programs, cmd_runs, cmd_tasks
from lion_search.cli.parser import build_parser
from lion_search.cli.show import cmd_show, show_lineage, show_run
from lion_search.cli.tune import cmd_tune

__all__ = ["EVAL_PLOTS", "bench_population", "bench_startup", "build_parser", "cmd_bench",
           "cmd_eval", "cmd_evolve", "cmd_export", "cmd_funnel", "cmd_programs", "cmd_report",
           "cmd_runs", "cmd_salvage", "cmd_show", "cmd_simplify", "cmd_tasks", "cmd_tune",
           "console", "fitness_text", "funnel_table", "main", "show_lineage", "show_run", "warn",
           "with_gpu_workers"]
