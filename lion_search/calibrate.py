"""Learning-rate calibration: a short log sweep whose best scale becomes a constant in the program.

A program is scaled by prepending `lr = c * lr`, so every later read of lr sees c * lr; the
search can then mutate c like any other constant.
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


class Calibration(NamedTuple):
    """The outcome of a sweep: the best scale, its scaled program and result, and every result."""

    scale: float
    program: Program
    result: EvalResult
    sweep: list[tuple[float, Program, EvalResult]]


def calibrate(program: Program, evaluator: Evaluator,
              grid: Sequence[float] = DEFAULT_GRID) -> Calibration:
    """Evaluate `program` scaled by each lr in `grid`; keep the best (lowest fitness)."""
    scaled = [scale_lr(program, c) for c in grid]
    results = evaluator.evaluate_many(scaled)
    best = min(range(len(grid)), key=lambda i: results[i].fitness)
    return Calibration(grid[best], scaled[best], results[best], list(zip(grid, scaled, results)))
