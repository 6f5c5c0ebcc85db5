"""Fair comparisons: every optimizer gets its learning rate swept over a log grid on the task.

Each program is trained at lr = scale * schedule(step) for every scale in the grid (the
interpreter takes the scale at run time, so the whole sweep shares one compiled loop); its
score is the best scale's mean validation loss over the seeds.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple, Sequence

import numpy as np

from lion_search.evaluation.results import EvalResult
from lion_search.language.program import Program

if TYPE_CHECKING:  # the grid is read where JAX is not needed (`runs.lr_checked`)
    from lion_search.evaluation.fitness import Evaluator

DEFAULT_GRID: tuple[float, ...] = tuple(float(x) for x in np.logspace(-4, 0, 9))


class Comparison(NamedTuple):
    """One optimizer's sweep on a task."""

    name: str
    lr: float                      # the best scale (nan if every run failed)
    fitness: float                 # mean validation loss over seeds at that scale
    spread: float                  # standard deviation over seeds at that scale
    result: EvalResult             # the best scale's result (curve, per-seed losses)
    sweep: list[tuple[float, float]]  # (scale, fitness) for every scale


def sweep(programs: dict[str, Program], evaluator: Evaluator,
          grid: Sequence[float] = DEFAULT_GRID) -> list[Comparison]:
    """Sweep the lr scale of every program; returns one Comparison each, best first."""
    names = list(programs)
    by_scale = {scale: evaluator.evaluate_many([programs[n] for n in names], lr_scale=scale)
                for scale in grid}
    out = []
    for i, name in enumerate(names):
        runs = [(scale, by_scale[scale][i]) for scale in grid]
        scale, best = min(runs, key=lambda r: r[1].fitness)
        finite = math.isfinite(best.fitness)
        out.append(Comparison(name, scale if finite else math.nan, best.fitness,
                              float(np.std(best.per_seed)) if finite else math.nan, best,
                              [(s, r.fitness) for s, r in runs]))
    return sorted(out, key=lambda c: c.fitness)
