"""Learning-rate calibration: a short log sweep whose best scale becomes a constant in the program.

A program is scaled by prepending `lr = c * lr`, so every later read of lr sees c * lr; the
search can then mutate c like any other constant. `calibrate` trains the sweep itself; a
search sends the programs of `lr_sweep` to its workers and picks with `best_scale`.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from lion_search.compare import DEFAULT_GRID
from lion_search.fitness import EvalResult, Evaluator
from lion_search.language import Instr, Program, normalize


def scale_lr(program: Program, scale: float) -> Program:
    """The program with its learning rate multiplied by `scale` (merged into a leading
    `lr = c * lr` if the program already starts with one)."""
    body = program.body
    if body and body[0] == Instr("lr", "mul", (body[0].args[0], "lr")) \
            and not isinstance(body[0].args[0], str):
        body = (Instr("lr", "mul", (body[0].args[0] * scale, "lr")),) + body[1:]
    else:
        body = (Instr("lr", "mul", (scale, "lr")),) + body
    return normalize(Program(program.name, program.memory, body, program.outputs, program.doc))


def unscale_lr(program: Program) -> tuple[Program, float]:
    """(the program without a leading `lr = c * lr`, c), or (program, 1.0) without one: the
    inverse of `scale_lr`. The two are the same optimizer when the first is given c times the
    second's learning rate."""
    body = program.body
    if body and body[0] == Instr("lr", "mul", (body[0].args[0], "lr")) \
            and not isinstance(body[0].args[0], str):
        return normalize(Program(program.name, program.memory, body[1:], program.outputs,
                                 program.doc)), float(body[0].args[0])
    return program, 1.0


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
