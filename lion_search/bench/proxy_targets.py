"""The proxy benchmark's corpus and targets: how well each program of the corpus really does.

The corpus (`proxy_tasks/corpus/`) is a folder of program files. A program's leading
`lr = c * lr` is taken off (`unscale_lr`): every program has its learning rate tuned here, so c
would only shift the grid.

Each program's result on a target task is its validation loss with the lr tuned over a grid:

    anchor  a   = argmin over lr in ANCHOR_GRID (1e-4 .. 1, 9 points) of the loss on the anchor
                  task (digits-mlp, seed 0); 1e-2 (the grid's middle) where every lr fails
    stage B L_i = min over lr in a x AROUND (0.1 .. 10, 5 points) of the mean loss over the
                  stage's seeds
    stage C L_i = min over lr in b x NARROW (10^-0.5, 1, 10^0.5) of the mean loss over the
                  stage's seeds, where b is the best lr on the stage B task of the same family
                  (digits-mlp-10x for digits-mlp-100x, text-lm-mini for text-lm-10x), else a

and every grid grows by one step (10^0.5) beyond an edge while the best lr lies on that edge,
up to EXTEND steps (`trainings.adaptive_sweep`): a first computation with fixed grids found the
best lr on the grid's lower edge for 25 of 56 programs on digits-mlp-10x and 44 on
digits-mlp-100x (larger tasks want lower lrs), so those grids had not reached the optimum.

The stages, their tasks and seeds are the funnel's (`proxy_tasks/funnel.json`: B on 2 seeds,
C on 1). The targets are computed once and shipped as data (`proxy_tasks/proxy_targets.json`);
`lion-search bench --proxies --targets` computes them again.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from lion_search.bench.trainings import (
    Progress,
    TaskRef,
    Trainer,
    Training,
    adaptive_sweep,
)
from lion_search.evaluation.lr_sweep import DEFAULT_GRID
from lion_search.evaluation.results import EvalResult
from lion_search.evaluation.stages import DEFAULT_STAGES, load_stages
from lion_search.evaluation.tasks import get_task
from lion_search.language.errors import LionSearchError
from lion_search.language.library import read_program_file
from lion_search.language.lr_scale import unscale_lr
from lion_search.language.program import Program

PROXY_TASKS = Path(__file__).resolve().parents[2] / "proxy_tasks"
CORPUS = PROXY_TASKS / "corpus"
TARGETS_FILE = PROXY_TASKS / "proxy_targets.json"
TARGETS_COMMAND = "lion-search bench --proxies --targets"

ANCHOR_TASK = "digits-mlp"
ANCHOR_GRID: tuple[float, ...] = DEFAULT_GRID
AROUND: tuple[float, ...] = tuple(float(x) for x in np.logspace(-1, 1, 5))
NARROW: tuple[float, ...] = tuple(float(x) for x in np.logspace(-0.5, 0.5, 3))
FALLBACK_LR = 1e-2
EXTEND = 3


class TargetPlan(NamedTuple):
    """What the targets are: the anchor task and grid, and each stage's tasks, seeds and grid
    (factors of the lr it centres on)."""

    anchor_task: str
    anchor_grid: tuple[float, ...]
    b_tasks: tuple[str, ...]
    b_seeds: tuple[int, ...]
    b_grid: tuple[float, ...]
    c_tasks: tuple[str, ...]
    c_seeds: tuple[int, ...]
    c_grid: tuple[float, ...]
    extend: int = EXTEND      # grid steps a sweep may add beyond an edge

    @property
    def tasks(self) -> tuple[str, ...]:
        return self.b_tasks + self.c_tasks

    def centred_on(self, c_task: str) -> str | None:
        """The stage B task whose best lr a stage C task's grid centres on (same family)."""
        family = get_task(c_task).family
        return next((t for t in self.b_tasks if get_task(t).family == family), None)


def funnel_plan(stages: str | Path = DEFAULT_STAGES) -> TargetPlan:
    """The targets of the funnel's stages B and C (the stage file's tasks and seeds)."""
    config = load_stages(stages)
    if len(config.stages) < 3:
        raise LionSearchError(f"the proxy targets need stages B and C; {str(stages)!r} has "
                              f"{len(config.stages)} stage(s)")
    b, c = config.stages[1], config.stages[2]
    return TargetPlan(ANCHOR_TASK, ANCHOR_GRID, b.tasks, b.seeds, AROUND, c.tasks, c.seeds,
                      NARROW, EXTEND)


class TargetResult(NamedTuple):
    """A program's tuned result on one target task (loss inf where every lr failed), and the
    mean loss at every lr its sweep tried."""

    loss: float
    lr: float
    per_seed: tuple[float, ...]
    sweep: tuple[tuple[float, float], ...]


class Targets(NamedTuple):
    """Every corpus program's anchor lr and tuned result on each target task."""

    plan: TargetPlan
    anchors: dict[str, float]
    results: dict[str, dict[str, TargetResult]]   # program -> task -> result
    texts: dict[str, str]                          # program -> the text it was computed for

    def column(self, task: str, names: Sequence[str]) -> list[float]:
        """The target losses on `task` of the programs `names`, in order."""
        return [self.results[name][task].loss for name in names]


def load_corpus(folder: str | Path = CORPUS) -> dict[str, Program]:
    """The corpus programs by file stem, sorted, each without its leading `lr = c * lr`."""
    files = sorted(Path(folder).glob("*.py"))
    if not files:
        raise LionSearchError(f"no program files (*.py) in the proxy corpus {str(folder)!r}")
    return {f.stem: unscale_lr(read_program_file(f))[0] for f in files}


def _best(sweep: dict[float, EvalResult]) -> tuple[float, EvalResult]:
    """The lr with the lowest fitness (the first of equals), and its result."""
    return min(sweep.items(), key=lambda item: item[1].fitness)


def _fitness(result: EvalResult) -> float:
    return result.fitness


def tuned_sweep(trainer: Trainer, task: str, centres: dict[str, float],
                factors: Sequence[float], seeds: tuple[int, ...], extend: int
                ) -> dict[str, dict[float, EvalResult]]:
    """Each program's results on `task` over `seeds` at centre x each factor, the grid grown
    past an edge up to `extend` steps (`trainings.adaptive_sweep`)."""
    def score(lrs: dict[str, list[float]]) -> dict[str, dict[float, EvalResult]]:
        done = trainer.train(Training(n, TaskRef(task), lr, seeds)
                             for n, grid in lrs.items() for lr in grid)
        return {n: {lr: done[Training(n, TaskRef(task), lr, seeds)] for lr in grid}
                for n, grid in lrs.items()}

    return adaptive_sweep(centres, factors, extend, score, _fitness)


def anchor_lrs(trainer: Trainer, names: Sequence[str], plan: TargetPlan) -> dict[str, float]:
    """Each program's anchor: its best lr of the plan's anchor grid on the anchor task, seed 0
    (FALLBACK_LR where every lr fails)."""
    anchors = {}
    for name, runs in tuned_sweep(trainer, plan.anchor_task, dict.fromkeys(names, 1.0),
                                  plan.anchor_grid, (0,), plan.extend).items():
        lr, best = _best(runs)
        anchors[name] = lr if math.isfinite(best.fitness) else FALLBACK_LR
    return anchors


def compute_targets(programs: dict[str, Program], plan: TargetPlan, threads: int,
                    progress: Progress | None = None) -> Targets:
    """Train the corpus on the target tasks as the module docstring says."""
    trainer = Trainer(programs, threads, progress)
    anchors = anchor_lrs(trainer, list(programs), plan)
    results: dict[str, dict[str, TargetResult]] = {name: {} for name in programs}
    for task in plan.b_tasks:
        for name, runs in tuned_sweep(trainer, task, anchors, plan.b_grid, plan.b_seeds,
                                      plan.extend).items():
            results[name][task] = _tuned(runs)
    for task in plan.c_tasks:
        centre = plan.centred_on(task)
        centres = {n: (results[n][centre].lr if centre and math.isfinite(results[n][centre].loss)
                       else anchors[n]) for n in programs}
        for name, runs in tuned_sweep(trainer, task, centres, plan.c_grid, plan.c_seeds,
                                      plan.extend).items():
            results[name][task] = _tuned(runs)
    return Targets(plan, anchors, results, {n: str(p) for n, p in programs.items()})


def _tuned(runs: dict[float, EvalResult]) -> TargetResult:
    lr, best = _best(runs)
    return TargetResult(best.fitness, lr, best.per_seed,
                        tuple((x, runs[x].fitness) for x in sorted(runs)))


def _number(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _from_number(x: float | None) -> float:
    return math.inf if x is None else float(x)


def write_targets(targets: Targets, path: str | Path = TARGETS_FILE) -> None:
    """The targets as JSON (failed losses as null), with what they are and how to remake them."""
    plan = targets.plan
    data = {
        "about": "Each proxy-corpus program's validation loss on the funnel's stage B and C tasks "
                 "with its lr tuned (lion_search/bench/proxy_targets.py says how); the targets "
                 "of `lion-search bench --proxies`.",
        "command": TARGETS_COMMAND,
        "plan": plan._asdict(),
        "programs": {name: {"text": targets.texts[name], "anchor_lr": targets.anchors[name],
                            "targets": {task: {"loss": _number(r.loss), "lr": r.lr,
                                               "per_seed": [_number(x) for x in r.per_seed],
                                               "sweep": [[x, _number(y)] for x, y in r.sweep]}
                                        for task, r in targets.results[name].items()}}
                     for name in sorted(targets.results)},
    }
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def read_targets(programs: dict[str, Program], path: str | Path = TARGETS_FILE) -> Targets:
    """The shipped targets of exactly the corpus `programs` (each with the text they were
    computed for); LionSearchError naming the difference otherwise."""
    try:
        data = json.loads(Path(path).read_text())
        plan = TargetPlan(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in data["plan"].items()})
        entries = data["programs"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise LionSearchError(f"cannot read the proxy targets {str(path)!r} ({err!r}); "
                              f"compute them with `{TARGETS_COMMAND}`") from None
    missing = sorted(set(programs) - set(entries))
    changed = sorted(n for n in programs if n in entries and entries[n]["text"] != str(programs[n]))
    if missing or changed:
        raise LionSearchError(f"the proxy targets {str(path)!r} do not match the corpus "
                              f"(no targets for {missing or 'none'}; changed since: "
                              f"{changed or 'none'}); compute them again with "
                              f"`{TARGETS_COMMAND}`")
    results = {n: {task: TargetResult(_from_number(r["loss"]), r["lr"],
                                      tuple(_from_number(x) for x in r["per_seed"]),
                                      tuple((x, _from_number(y)) for x, y in r["sweep"]))
                   for task, r in entries[n]["targets"].items()} for n in programs}
    return Targets(plan, {n: entries[n]["anchor_lr"] for n in programs}, results,
                   {n: entries[n]["text"] for n in programs})
