"""The options of `lion-search evolve`, apart from the commands: the parser adds them to its
evolve command, and `bench --rediscovery` checks the evolve arguments it passes on with them."""
from __future__ import annotations

import argparse

from lion_search.analysis.equivalence import Equivalence


def comma_ints(text: str) -> tuple[int, ...]:
    """Integers joined by commas (an argument type)."""
    try:
        return tuple(int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None


def comma_names(text: str) -> tuple[str, ...]:
    """Names joined by commas, blanks dropped (an argument type)."""
    return tuple(x.strip() for x in text.split(",") if x.strip())


def add_evolve_options(p: argparse.ArgumentParser) -> None:
    """Add every option of `lion-search evolve` to `p`."""
    p.add_argument("--budget", type=int, help="trained evaluations to run (cache hits are free; "
                                              "default 2000)")
    p.add_argument("--population", type=int, help="population size P (default 100)")
    p.add_argument("--tournament", type=int, help="tournament size T (default 2)")
    p.add_argument("--task", help="proxy task, tasks joined by commas (digits-mlp,text-lm) or a "
                                  "portfolio name (default digits; see `lion-search tasks`): over "
                                  "several tasks, fitness is the mean log ratio of the loss to "
                                  "tuned AdamW's")
    p.add_argument("--schedule", help="lr schedule shape (default warmup_cosine)")
    p.add_argument("--seeds", type=comma_ints,
                   help="the seeds the seed programs' lr is calibrated on (default 0,1); with "
                        "--seed-pool 0, every child's training seeds")
    p.add_argument("--seed-pool", type=int, help="the training seeds 0..N-1 that programs train "
                                                 "on, an epoch's at a time, scored paired with "
                                                 "AdamW on the same seeds (default 32; 0: every "
                                                 "child on --seeds, fitness its loss)")
    p.add_argument("--fitness-seeds", type=int, help="seeds per epoch: what a new program trains "
                                                     "on (default 1)")
    p.add_argument("--rotate-every", type=int, help="evaluations per epoch: then the next seeds "
                                                    "of the pool (default 500; 0: one epoch)")
    p.add_argument("--prior-seeds", type=float, help="pseudo-seeds at AdamW's score that a "
                                                     "program's mean score is shrunk with "
                                                     "(default 1)")
    p.add_argument("--max-seeds", type=int, help="seeds a program's fitness gathers, one more "
                                                 "each epoch it is selected or found again "
                                                 "(default 16)")
    p.add_argument("--confirm-top", type=int, help="the run's best K programs by fitness are "
                                                   "trained on more seeds, up to "
                                                   "--confirm-seeds, before the next child "
                                                   "(default 10; 0: none)")
    p.add_argument("--confirm-seeds", type=int, help="seeds each of the run's best is trained "
                                                     "on (default 4, at most --max-seeds)")
    p.add_argument("--own-spread", choices=("on", "off"),
                   help="on: a program trained on --confirm-seeds seeds is shrunk by "
                        "--prior-seeds times its own per-seed variance over the run's mean "
                        "(default off: no better in a search)")
    p.add_argument("--reproduce", choices=("on", "off"),
                   help="on: a program trained again, as a leader or a parent, is first "
                        "trained on its first seed again at its lr x (1 + 2^-13), and that seed "
                        "scores the worse of the two runs (default off: no gain measured)")
    p.add_argument("--reevaluate-parents", choices=("on", "off"),
                   help="on (default): a parent not yet trained on the epoch's seeds is, "
                        "before it has a child")
    p.add_argument("--promote-seeds", type=comma_ints, help="promotion's training seeds, which no "
                                                       "search trains on (default 10000,10001)")
    p.add_argument("--held-back-seeds", type=comma_ints,
                   help="seeds of the end-of-run check, which no search trains on (default "
                        "20000,20001,20002)")
    p.add_argument("--held-back-top", type=int, help="programs the end-of-run check retrains on "
                                                     "the held-back seeds (default 10)")
    p.add_argument("--seed-programs", type=comma_names,
                   help="seed programs to start from (default adamw)")
    p.add_argument("--workers", type=int, help="workers training at once (default: one per core): "
                                               "threads of this process, which share its "
                                               "compiled loops; Ray actors with --address")
    p.add_argument("--address", help="run the workers as Ray actors: join an existing Ray "
                                     "cluster (or set RAY_ADDRESS), or 'local' to start Ray on "
                                     "this machine")
    p.add_argument("--gpus-per-worker", type=float, help="GPUs per Ray worker (1: one JAX process "
                   "per GPU); such workers train --population-batch programs at once with the "
                   "population trainer")
    p.add_argument("--population-batch", type=int, help="programs a GPU worker trains at once "
                   "(default 0: as many as half its GPU's memory holds, at most 4096)")
    p.add_argument("--batch-size", type=int, help="candidates sent to a worker at once (default 8)")
    p.add_argument("--max-length", type=int, help="instruction limit L (default 32)")
    p.add_argument("--max-memory", type=int, help="memory-slot limit (default 4)")
    p.add_argument("--mutation-weights", help="e.g. insert=1,delete=1,change_arg=1,change_op=1,"
                                              "perturb_constant=1,swap=0.5,add_slot=0.5,"
                                              "remove_slot=0.25 (the defaults)")
    p.add_argument("--hurdle", type=float, help="cut candidates whose loss at 25%% of training is "
                                                "this many times the seed's (default 2; 0 = off)")
    p.add_argument("--islands", type=int, help="populations that evolve apart, the population "
                                               "split among them (default 4)")
    p.add_argument("--migrate-every", type=int, help="evaluations between migrations: each "
                                                     "island's best that the next island lacks "
                                                     "is copied there (default 500)")
    p.add_argument("--remutations", type=int, help="times a child equivalent to a program seen "
                                                   "is mutated again before it counts as a "
                                                   "cache hit (default 10; 0: never)")
    p.add_argument("--equivalence", choices=[e.value for e in Equivalence],
                   help="which tensors tell two children apart: run (default), those of the "
                        "tasks the run trains on, so that programs differing only where none of "
                        "them goes are one program; probes, also fixed tensors of other shapes "
                        "(the former key)")
    p.add_argument("--restart-every", type=int, help="restart the population every N evaluations "
                                                     "from --restart-from")
    p.add_argument("--restart-from", choices=("best", "seeds"), help="what --restart-every "
                                                                     "restarts from (default "
                                                                     "best)")
    p.add_argument("--restart-plateau", type=int, help="restart the population from the best "
                                                       "promoted program when the promoted "
                                                       "score has not improved for N "
                                                       "evaluations (default 0: never)")
    p.add_argument("--rng-seed", type=int, help="random seed of the search (default 0)")
    p.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None,
                   help="reproducible: children proposed in generations and results filed in "
                        "the order they were sent, so that the same command gives the same "
                        "journal with any number of workers, resumed or not (default: on with "
                        "--workers 1, off with more)")
    p.add_argument("--generation", type=int, help="children proposed per generation of a "
                                                  "deterministic search (default 32)")
    p.add_argument("--metaval-every", type=int, help="meta-validate the best program every N "
                                                     "evaluations (default: 10%% of the budget, "
                                                     "at most 1000)")
    p.add_argument("--metaval-task", help="held-out larger task for meta-validation (default: "
                                          "the proxy family's 10x task; 'none' turns it off)")
    p.add_argument("--allow-lr-free", action="store_true", help="keep children whose update does "
                                                                "not grow with lr (rejected by default)")
    p.add_argument("--promote-every", type=int, help="promote the best distinct programs to "
                                                     "larger tasks every N evaluations (default: "
                                                     "5%% of the budget, at most 1000; 0 = off)")
    p.add_argument("--promote-top", type=int, help="programs per promotion round (default 3)")
    p.add_argument("--promote-share", type=float,
                   help="the most of the workers' training time promotion may take: a round "
                        "is skipped while promotion has used more (default 0.25)")
    p.add_argument("--promote-tasks", help="promotion tasks, joined by commas (default: the "
                                           "funnel's stage B)")
    p.add_argument("--promote-trials", type=int,
                   help="tuning trials of the promotion reference, AdamW, on each promotion "
                        "task, over its lr, b1, b2, eps and weight decay (default 32; tuned once "
                        "and kept in the tuning studies)")
    p.add_argument("--promote-score", choices=("worst", "mean"),
                   help="a promoted program's score over the promotion tasks: worst (default), "
                        "its largest log loss ratio to tuned AdamW (below 0: it beats AdamW on "
                        "every task), or mean, the mean of those ratios")
    p.add_argument("--screen-tasks", help="cheap tasks (joined by commas, or a portfolio) "
                                          "that a promotion round's leaders are first trained "
                                          "on, through promotion's protocol; the best of them "
                                          "on these tasks are promoted (default none: the best "
                                          "by proxy fitness)")
    p.add_argument("--screen-top", type=int, help="leaders a screen ranks per round "
                                                  "(default 12; more than --promote-top)")
    p.add_argument("--promoted-seed", choices=("join", "off"),
                   help="join (default): a program that beats every promoted program so far "
                        "joins the population again as its youngest member; off: it does not")
    p.add_argument("--out", help="run folder (default runs/<timestamp>; runs/latest links to it)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out")
    p.add_argument("--force", action="store_true", help="overwrite an existing run folder")
    p.add_argument("--time-limit", type=float, help="stop cleanly after this many seconds")
    p.add_argument("--cpu-limit", type=float, metavar="SECONDS",
                   help="stop cleanly, as at --time-limit, once this process has used this "
                        "much CPU time (all its threads, from the command's start: the "
                        "in-process workers count; Ray actors, other processes, do not)")
