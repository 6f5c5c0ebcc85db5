"""What training a program gives: `EvalResult` (fitness, loss curve, status, seconds), the worst
fitness, the hurdle, and `combine_seeds`, which turns per-seed losses into one result:

    fitness = mean over seeds of the final validation loss, or WORST_FITNESS (inf) where any
    seed diverged (NaN or Inf) or was cut at a hurdle.

The interpreter and the multi-program trainer both return these, for `fitness.Evaluator`."""
from __future__ import annotations

import math
from enum import StrEnum
from typing import NamedTuple

import numpy as np

WORST_FITNESS = math.inf


class Status(StrEnum):
    """How a training ended (EvalResult.status; the journal's status column)."""

    OK = "ok"
    DIVERGED = "diverged"     # NaN or Inf
    HURDLE = "hurdle"         # cut as hopeless at the hurdle
    FAILED = "failed"         # a promotion with no finite loss at any lr factor


STATUS = {0: Status.OK, 1: Status.DIVERGED, 2: Status.HURDLE}   # the trainers' stop codes
HURDLE_AT = 4   # the hurdle is checked 1/HURDLE_AT of the way through training


def hurdle_step(steps: int) -> int:
    """The step at which a run of `steps` steps meets the hurdle."""
    return max(steps // HURDLE_AT, 1)


class EvalResult(NamedTuple):
    """The score of one program on one task."""

    fitness: float       # mean validation loss over seeds; WORST_FITNESS if any run failed
    curve: np.ndarray    # training loss per step, mean over seeds (NaN after a stop)
    status: Status       # OK, DIVERGED (NaN/Inf) or HURDLE (cut as hopeless)
    seconds: float       # wall time spent training it (its share of a batch)
    per_seed: tuple[float, ...] = ()  # validation loss of each seed's run (inf if it failed)
    per_task: tuple["EvalResult", ...] = ()  # a portfolio's result on each of its tasks


def hurdle_loss(curve: np.ndarray, factor: float) -> float:
    """The hurdle for other programs: `factor` times a reference curve's mean training loss over
    the 10 steps ending at a quarter of training (the point where the interpreter checks it)."""
    step = hurdle_step(len(curve))
    return float(factor * np.mean(curve[max(step - 9, 0):step + 1]))


def combine_seeds(val: np.ndarray, losses: np.ndarray, stopped: np.ndarray, seconds: float) -> EvalResult:
    """One EvalResult from per-seed arrays val[s], losses[s, steps], stopped[s]."""
    worst = int(max(stopped))
    fitness = float(np.mean(val)) if worst == 0 else WORST_FITNESS
    with np.errstate(invalid="ignore"):
        curve = np.mean(losses, axis=0)
    return EvalResult(fitness, curve, STATUS[worst], seconds, tuple(float(v) for v in val))
