"""The argument parser: one subparser per command, each set to run its `cmd_*` function."""
from __future__ import annotations

import argparse
from typing import Callable

from lion_search.cli.after_search import (
    cmd_funnel,
    cmd_report,
    cmd_salvage,
    cmd_simplify,
)
from lion_search.cli.evaluate import EVAL_PLOTS, cmd_bench, cmd_eval
from lion_search.cli.evolve import cmd_evolve
from lion_search.cli.evolve_options import add_evolve_options, comma_ints, comma_names
from lion_search.cli.export import cmd_export
from lion_search.cli.listings import cmd_programs, cmd_runs, cmd_tasks
from lion_search.cli.progress import cmd_progress
from lion_search.cli.show import cmd_show
from lion_search.cli.tune import cmd_tune


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="lion-search", description="Discover optimizers by evolving symbolic programs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable, help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=fn)
        return p

    p = add("evolve", cmd_evolve, "run a search: regularized evolution of optimizer programs")
    add_evolve_options(p)

    p = add("show", cmd_show, "show a run (folder), one of its programs (RUN:ID, RUN:best), "
                              "or a program (seed name or file)")
    p.add_argument("target", nargs="?", default="runs/latest", help="default: runs/latest")
    p.add_argument("--top", type=int, default=10, help="programs in the table (default 10)")
    p.add_argument("--lineage", metavar="ID|best", help="the chain of mutations from the seed "
                                                         "to this program of the run")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("simplify", cmd_simplify, "simplify a program: remove dead code, apply rewrite rules, "
                                      "then ablate instructions and constants on the proxy")
    p.add_argument("program", help="RUN:ID, RUN:best, a program file or a seed name")
    p.add_argument("-o", "--output", help="write the simplified program to this file")
    p.add_argument("--task", help="proxy task for ablating a program that is not a run's "
                                  "(default digits-mlp; a run's program is scored as its run "
                                  "scores, on the run's tasks and seeds)")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="keep an ablation when fitness worsens by at most this fraction of it, "
                        "or by this much for a portfolio's log-ratio fitness (0.01)")
    p.add_argument("--no-ablation", action="store_true", help="only exact simplifications")

    p = add("report", cmd_report, "write RUN/report.html with plots (fitness, meta-validation, "
                                  "Pareto front, throughput, funnel)")
    p.add_argument("run", nargs="?", default="runs/latest", help="run folder (default runs/latest)")

    p = add("progress", cmd_progress, "compare groups of runs (evolution, random search, ...): "
                                      "the best promoted score at equal budgets of trained "
                                      "evaluations, mean and spread over each group's runs")
    p.add_argument("groups", nargs="+", metavar="NAME=RUN,RUN",
                   help="a group of runs (e.g. evolution=runs/e1,runs/e2), or one RUN")
    p.add_argument("--checkpoints", type=int, default=4,
                   help="budgets in the table: this many equal parts of the common budget "
                        "(default 4)")
    p.add_argument("--plot", default="runs/progress.png",
                   help="PNG of the groups' curves (default runs/progress.png)")
    p.add_argument("--markdown", action="store_true", help="also print a markdown table")

    p = add("runs", cmd_runs, "list the run folders with budget, progress, best and state")
    p.add_argument("root", nargs="?", default="runs", help="folder holding runs (default runs)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add("salvage", cmd_salvage, "copy the readable programs and evaluations of a damaged "
                                    "run journal into a new run folder, to show or resume")
    p.add_argument("run", help="the run folder whose journal is damaged")
    p.add_argument("-o", "--out", help="the new run folder (default RUN-salvaged)")
    p.add_argument("--force", action="store_true", help="overwrite an existing --out folder")

    p = add("export", cmd_export, "write a program as a standalone optax (or torch) module")
    p.add_argument("program", help="a seed name, a program file, or RUN:ID / RUN:best")
    p.add_argument("-o", "--output", required=True, help="the module to write, a .py file")
    p.add_argument("--framework", choices=("optax", "torch"), default="optax",
                   help="optax (default: needs jax and optax) or torch (a torch.optim.Optimizer "
                        "subclass named after the program: needs only torch)")
    p.add_argument("--raw", action="store_true", help="a run's program as the search journaled "
                                                      "it (default: its simplified form)")

    p = add("funnel", cmd_funnel, "re-test a run's best programs on 10x and 100x larger tasks "
                                  "against tuned baselines; export the winners")
    p.add_argument("run", nargs="?", default="runs/latest", help="run folder (default runs/latest)")
    p.add_argument("--top", type=int, default=5, help="programs entering the first stage (default 5)")
    p.add_argument("--stages", help="stage file (default proxy_tasks/funnel.json)")
    p.add_argument("--tune", help="N: every optimizer tuned with N trials per task (default: the "
                                  "stage file's, 16); lr: the lr alone over the file's grids "
                                  "(fast, but not a fair test)")

    add("programs", cmd_programs, "list the seed programs with their memory cost")
    add("tasks", cmd_tasks, "list the proxy tasks with their size and cost")

    p = add("eval", cmd_eval, "train a program and baselines, each tuned on the same budget; "
                              "compare")
    p.add_argument("program", help="a seed name, a program file, or RUN:ID")
    p.add_argument("--vs", type=comma_names, default=("adamw", "lion"),
                   help="baselines (default adamw,lion)")
    p.add_argument("--task", default="digits-mlp", help="proxy task (default digits-mlp)")
    p.add_argument("--schedule", default="warmup_cosine", help="lr schedule shape")
    p.add_argument("--steps", type=int, help="training steps (default: the task's own; the "
                                             "schedule is stretched to fit)")
    p.add_argument("--batch", type=int, help="training batch size (default: the task's own; "
                                             "digits and text-lm families)")
    p.add_argument("--seeds", type=comma_ints, default=(0, 1), help="training seeds (default 0,1)")
    p.add_argument("--tune", help="N: tune every optimizer's lr and hyperparameters with N "
                                  "Optuna trials (default 32); lr: sweep the lr alone over "
                                  "--grid (fast, but not a fair test against a tuned optimizer)")
    p.add_argument("--grid", help="comma-separated lr scales for --tune lr (default 1e-4..1, "
                                  "9 points); --grid alone means --tune lr")
    p.add_argument("--plot", help=f"PNG of the loss curves (default "
                                  f"{EVAL_PLOTS}/PROGRAM-TASK.png)")
    p.add_argument("--lr-plot", help=f"PNG of the final validation loss against the lr, one "
                                     f"line per optimizer (default {EVAL_PLOTS}/PROGRAM-TASK-lr.png)")
    p.add_argument("--markdown", action="store_true", help="also print a markdown table")

    p = add("tune", cmd_tune, "tune a program's lr and hyperparameters on a task (Optuna TPE); "
                              "print the best setting, write it with -o")
    p.add_argument("program", help="a seed name, a program file, or RUN:ID")
    p.add_argument("--task", default="digits-mlp", help="task (default digits-mlp)")
    p.add_argument("--trials", type=int, default=32, help="trials (default 32); each trains "
                                                          "once per seed")
    p.add_argument("--seeds", type=comma_ints, default=(0, 1), help="training seeds (default 0,1)")
    p.add_argument("--tune-constants", type=int, metavar="K",
                   help="tune only the K constants whose perturbation moves the loss most "
                        "(default: all the program's hyperparameters)")
    p.add_argument("-o", "--output", help="write the tuned program to this program file")
    p.add_argument("--schedule", default="warmup_cosine", help="lr schedule shape")
    p.add_argument("--steps", type=int, help="training steps (default: the task's own)")
    p.add_argument("--batch", type=int, help="training batch size (default: the task's own)")

    p = add("bench", cmd_bench, "candidates/s of the interpreter, batched interpreter and per-program jit")
    p.add_argument("--task", default="digits-mlp")
    p.add_argument("--candidates", type=int, default=60, help="programs for the interpreter")
    p.add_argument("--jitted", type=int, default=6, help="programs for per-program jit")
    p.add_argument("--batch-size", type=int, default=8, help="batch of the batched interpreter")
    p.add_argument("--startup", action="store_true", help="instead, time whole evolve commands: "
                   "seconds to the first trained evaluation, the default workers against one "
                   "at budget 1000, two against one at budget 2000 (about ten minutes)")
    p.add_argument("--population", metavar="P,P,...", help="instead, the batched interpreter "
                   "against the population trainer at these population sizes, e.g. 16,64")
    p.add_argument("--journal", type=int, metavar="N", help="instead, build a run journal of N "
                   "programs by the real search with synthetic training (300000: about an hour "
                   "on 2 cores; kept in --out and reused), then time show, report, --resume and "
                   "salvage on it")
    p.add_argument("--out", help="where --startup or --workers write their runs (default "
                                 "runs/bench-startup, runs/bench-workers), --journal its journal "
                                 "(default runs/bench-journal), or --rediscovery its runs and "
                                 "report (default runs/rediscovery-PROXY)")
    p.add_argument("--seed-effects", type=int, metavar="N", help="instead, what a training "
                   "seed controls: AdamW on digits-mlp-b512 trained N times with its "
                   "initialisation, batch order, train/validation split, or all three varied")
    p.add_argument("--yardsticks", metavar="RUN", help="instead, how well RUN's promotion "
                   "measures programs: its promoted programs through the protocol again on other "
                   "seeds (test-retest tau), each per-task loss against a wide lr sweep, and the "
                   "share of bests at a sweep's edge")
    p.add_argument("--rediscovery", action="store_true", help="instead, the rediscovery rate: "
                   "--searches search seeds from adamw alone on --proxy, each with --cpu-limit "
                   "CPU seconds, --parallel at once; a seed succeeds when its RUN:best, "
                   "simplified, is new structure and closes at least half the gap between "
                   "tuned adamw and tuned muon on the held-out task (--trials each); searches "
                   "already run in --out are reused (hours at the defaults)")
    p.add_argument("--proxy", default="text-lm-micro", help="with --rediscovery: the search "
                   "proxy (default text-lm-micro: promotion to text-lm-mini, tested on "
                   "text-lm-10x; digits-mlp-b512: promotion to digits-cnn and text-lm-mini, "
                   "tested on digits-mlp-10x)")
    p.add_argument("--promote-tasks", help="with --rediscovery: the searches' promotion tasks, "
                                           "joined by commas (default: the proxy's)")
    p.add_argument("--test-task", help="with --rediscovery: the held-out task the found "
                                       "programs are tested on (default: the proxy's)")
    p.add_argument("--searches", type=int, help="with --rediscovery: search seeds 1..K "
                                                "(default 4)")
    p.add_argument("--cpu-limit", type=float, metavar="SECONDS", help="with --rediscovery: "
                   "each search's CPU seconds (default 1800)")
    p.add_argument("--parallel", type=int, help="with --rediscovery: searches at once "
                                                "(default 2)")
    p.add_argument("--search-args", metavar="ARGS", help="with --rediscovery: more "
                   "`lion-search evolve` arguments for every search, given as one, e.g. "
                   "--search-args=\"--restart-plateau 3000\": the search settings under test")
    p.add_argument("--trials", type=int, help="with --rediscovery: tuning trials of each "
                                              "optimizer on the test task, on seeds 0,1 "
                                              "(default 32)")
    p.add_argument("--proxies", action="store_true", help="instead, how well each candidate "
                   "proxy ranks the proxy corpus as the funnel's stage B and C tasks do (Kendall "
                   "tau), against its cost (about ten minutes on 2 cores)")
    p.add_argument("--targets", action="store_true", help="with --proxies: compute the targets "
                   "again (about an hour on 2 cores) and write them")
    p.add_argument("--run", metavar="RUN", help="with --proxies: instead of the corpus and "
                   "its targets, RUN's promoted programs, each proxy ranked against what RUN's "
                   "promotion measured of them, on training seeds neither used (about ten "
                   "minutes on 2 cores for 40 programs)")
    p.add_argument("--corpus", help="with --proxies: the folder of program files (default "
                                    "proxy_tasks/corpus)")
    p.add_argument("--targets-file", help="with --proxies: the targets' JSON file (default "
                                          "proxy_tasks/proxy_targets.json)")
    p.add_argument("--workers", type=comma_ints, help="instead, scaling on identical work: whole "
                   "evolve --deterministic commands with 1 worker and with N, --repeats times "
                   "each (--budget, default 2000: about an hour on 2 cores), with the ratio per "
                   "repeat and what takes the cores; with --proxies: trainings at once (default: "
                   "one per core)")
    p.add_argument("--budget", type=int, default=2000, help="with --workers: the evolve budget")
    p.add_argument("--repeats", type=int, default=3, help="with --workers: commands per worker "
                                                          "count")
    p.add_argument("--plot", help="with --proxies: PNG of tau against cost (default "
                                  "runs/bench/proxies.png)")
    return parser
