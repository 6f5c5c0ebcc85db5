"""Learning-rate calibration: a short log sweep whose best scale becomes a constant in the program.

A program is scaled by prepending `lr = c * lr`, so every later read of lr sees c * lr; the
search can then mutate c like any other constant. `calibrate` trains the sweep itself; a
search sends the programs of `lr_sweep` to its workers and picks with `best_scale`.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from lion_search.evaluation.fitness import Evaluator
from lion_search.evaluation.lr_sweep import DEFAULT_GRID
from lion_search.evaluation.results import EvalResult
from lion_search.language.lr_scale import scale_lr
from lion_search.language.program import Program


class Calibration(NamedTuple):
    """The outcome of a sweep: the best scale, its scaled program and result, and every result."""

    scale: float
    program: Program
    result: EvalResult
    sweep: list[tuple[float, Program, EvalResult]]


def lr_sweep(program: Program, grid: Sequence[float] = DEFAULT_GRID) -> list[Program]:
    """The programs a calibration trains: `program` scaled by each lr in `grid`."""
    return [scale_lr(program, c) for c in grid]


def best_scale(grid: Sequence[float], scaled: Sequence[Program],
               results: Sequence[EvalResult]) -> Calibration:
    """The calibration of a trained sweep (`scaled` = lr_sweep(program, grid), and the result
    of each): the best (lowest fitness) scale."""
    best = min(range(len(grid)), key=lambda i: results[i].fitness)
    return Calibration(grid[best], scaled[best], results[best],
                       list(zip(grid, scaled, results)))


def calibrate(program: Program, evaluator: Evaluator,
              grid: Sequence[float] = DEFAULT_GRID) -> Calibration:
    """Evaluate `program` scaled by each lr in `grid`; keep the best (lowest fitness)."""
    scaled = lr_sweep(program, grid)
    return best_scale(grid, scaled, evaluator.evaluate_many(scaled))
