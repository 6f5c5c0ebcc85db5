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
                       seeds: tuple[int, ...]
                       ) -> list[dict]:
    """Journal AdamW's lr sweep on each task (evaluations of `kind`); the JSON record."""
    out = []
    for task, calibration in zip(tasks, references):
        pid = store.add_program(str(calibration.program), cache.keys(calibration.program), None,
                                f"reference on {task}: lr x{calibration.scale:g}", "reference")
        result = calibration.result
        store.add_evaluation(pid, kind=kind, fitness=result.fitness, status=result.status,
                             task=task, seeds=seeds, seconds=result.seconds, worker="calibration")
        out.append({"task": task, "id": pid, "lr_scale": calibration.scale,
                    "fitness": result.fitness})
    return out


def journal_seed(store: RunStore, cache: DedupCache, name: str, calibration: Calibration,
                 config: EvolveConfig) -> dict:
    """Journal a seed's lr sweep (each scale as a `calibration` program and evaluation) and its
    calibrated form (a `seed`); the JSON record of the seed, with each task's hurdle loss."""
    for scale, scaled, result in calibration.sweep:
        pid = store.add_program(str(scaled), cache.keys(scaled), None,
                                f"{name} lr sweep: lr x{scale:g}", "calibration")
        store.add_evaluation(pid, kind=EvalKind.CALIBRATION, fitness=result.fitness,
                             status=result.status, task=config.task, seeds=config.seeds,
                             seconds=result.seconds, worker="calibration")
    best = calibration.program
    pid = store.add_program(str(best), cache.keys(best), None,
                            f"{name} calibrated: lr x{calibration.scale:g}", "seed")
    store.add_evaluation(pid, kind=EvalKind.SEED, fitness=calibration.result.fitness,
                         status=calibration.result.status, task=config.task, seeds=config.seeds,
                         seconds=calibration.result.seconds, worker="calibration")
    return {"name": name, "id": pid, "lr_scale": calibration.scale,
            "fitness": calibration.result.fitness,
            "hurdle": [hurdle_loss(r.curve, config.hurdle)
                       if config.hurdle > 0 and r.status == Status.OK else math.inf
                       for r in calibration.result.per_task]}
