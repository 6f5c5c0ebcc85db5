"""Journaling the search's lr sweeps: AdamW's on each task of a portfolio or of promotion (the
reference losses), and each seed's at start-up (its calibrated lr scale)."""
from __future__ import annotations

import math
from typing import Sequence

from lion_search.analysis.dedup import DedupCache
from lion_search.evaluation.calibrate import Calibration
from lion_search.evaluation.results import Status, hurdle_loss
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search.config import EvolveConfig


def journal_references(store: RunStore, cache: DedupCache, tasks: Sequence[str],
                       references: Sequence[Calibration], kind: EvalKind,
                       seeds: tuple[int, ...],
                       paired: Sequence[Sequence[float]] | None = None) -> list[dict]:
    """Journal AdamW's lr sweep on each task (evaluations of `kind`); the JSON record. With
    `paired` (its loss on each pool seed, per task) on a single task, the reference's score on
    every pool seed is journaled too: 0, as it is what those scores compare with."""
    out = []
    for i, (task, calibration) in enumerate(zip(tasks, references)):
        pid = store.add_program(str(calibration.program), cache.keys(calibration.program), None,
                                f"reference on {task}: lr x{calibration.scale:g}", "reference")
        result = calibration.result
        per_seed = {s: 0.0 for s in range(len(paired[i]))} \
            if paired is not None and len(tasks) == 1 else None
        store.add_evaluation(pid, kind=kind, fitness=result.fitness, status=result.status,
                             task=task, seeds=seeds, seconds=result.seconds, worker="calibration",
                             per_seed=per_seed)
        out.append({"task": task, "id": pid, "lr_scale": calibration.scale,
                    "fitness": result.fitness})
    return out


def journal_seed(store: RunStore, cache: DedupCache, name: str, calibration: Calibration,
                 config: EvolveConfig, paired: tuple[dict[int, float], bool] | None = None
                 ) -> dict:
    """Journal a seed's lr sweep (each scale as a `calibration` program and evaluation) and its
    calibrated form (a `seed`); the JSON record of the seed, with each task's hurdle loss. With
    `paired` (its paired score on each pool seed it trained on, and whether all trained), the
    seed's fitness is their mean (`search.instances`)."""
    for scale, scaled, result in calibration.sweep:
        pid = store.add_program(str(scaled), cache.keys(scaled), None,
                                f"{name} lr sweep: lr x{scale:g}", "calibration")
        store.add_evaluation(pid, kind=EvalKind.CALIBRATION, fitness=result.fitness,
                             status=result.status, task=config.task, seeds=config.seeds,
                             seconds=result.seconds, worker="calibration")
    best = calibration.program
    fitness, status, seeds, per_seed = (calibration.result.fitness, calibration.result.status,
                                        config.seeds, None)
    if paired is not None:
        per_seed, ok = paired
        fitness = math.fsum(per_seed.values()) / len(per_seed) if ok else math.inf
        status, seeds = Status.OK if ok else Status.DIVERGED, tuple(per_seed)
    pid = store.add_program(str(best), cache.keys(best), None,
                            f"{name} calibrated: lr x{calibration.scale:g}", "seed")
    store.add_evaluation(pid, kind=EvalKind.SEED, fitness=fitness, status=status,
                         task=config.task, seeds=seeds, seconds=calibration.result.seconds,
                         worker="calibration", per_seed=per_seed)
    return {"name": name, "id": pid, "lr_scale": calibration.scale, "fitness": fitness,
            "hurdle": [hurdle_loss(r.curve, config.hurdle)
                       if config.hurdle > 0 and r.status == Status.OK else math.inf
                       for r in calibration.result.per_task]}
