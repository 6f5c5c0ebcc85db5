"""The lr check: a program's update must grow with the learning rate it is given.

`lr` is the user's knob (their value and their schedule), so an optimizer whose update ignores it
is no optimizer to hand out, however well it does on the proxy: searches find such programs,
`lr * (m / 0.19 / lr + 0.0008607)` (lr cancels) or `lr = 0.03 % lr` (on the proxy's unit-peak
schedule, a constant 0.03 for most of training), which win one task at one schedule and fail
everywhere else. A child that fails the check is rejected before training.

The measure: run the program for K = LR_STEPS steps from an optimizer's initial state (memory
slots at zero, so that a slot accumulating `lr * g` counts), at t = 1, ..., K, on fixed
pseudo-random w and g (dedup's fingerprint inputs), with a constant lr = L and again with 2L.
With u_k(L) the update of step k (w moves by it),

    growth(L) = sum_k ||u_k(2L)|| / sum_k ||u_k(L)||,

which is 2 for any update linear in lr. The program passes when growth(L) >= LR_GROWTH at every
level L in LR_LEVELS. An update that is zero at both lrs has growth 1 (it fails), and one that
is not finite, or zero at L only, has growth NaN (it fails too).

The levels: 0.5 is the lr the search itself feeds (the proxy's schedule peaks at 1, and a
calibrated program scales it by its own constant), where `c % lr` is the constant c for every
c < L; 1e-3 is a user's lr, where offsets such as `lr + 1e-3` or `max(lr, 0.01)` stop the
update from growing. Each level keeps lr constant over the K steps: varying lrs would average a
sawtooth such as `c % lr`, uniform-like in [0, lr), into an apparent linear growth.
"""
from __future__ import annotations

import functools
import math

import numpy as np

from lion_search.analysis.dedup import FINGERPRINT_SHAPES, fingerprint_inputs
from lion_search.evaluation.interpreter import probe, size_for
from lion_search.language.program import Program

LR_GROWTH = 1.5   # the least growth of the update when lr doubles (a linear update: 2)
LR_STEPS = 8
LR_LEVELS: tuple[float, ...] = (0.5, 1e-3)


@functools.lru_cache(maxsize=None)
def _inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, grads[steps, entries], ts[steps]): the fingerprint's w and g, and t = 1, ..., K."""
    inputs = fingerprint_inputs(LR_STEPS, 0)
    return inputs.w, inputs.grads, np.arange(1, LR_STEPS + 1, dtype=np.float32)


def lr_growth(program: Program) -> float:
    """min over LR_LEVELS of growth(L) (see the module docstring); NaN if any level's is."""
    w, grads, ts = _inputs()
    lrs = np.array([lr for level in LR_LEVELS for lr in (level, 2.0 * level)], np.float32)
    runs = len(lrs)
    # Every level and its double in one call: runs share w, g and t, and differ in lr.
    with np.errstate(all="ignore"):
        updates = probe(program, FINGERPRINT_SHAPES, np.broadcast_to(w, (runs, w.size)),
                        np.zeros((runs, size_for(program).memory, w.size), np.float32),
                        np.broadcast_to(grads, (runs,) + grads.shape),
                        np.repeat(lrs[:, None], LR_STEPS, axis=1),
                        np.broadcast_to(ts, (runs, LR_STEPS)))[:, :, 0]
    # sum_k ||u_k|| of each run, in float64 so that the sum cannot overflow.
    totals = np.linalg.norm(updates.astype(np.float64), axis=2).sum(axis=1)

    def growth(low: float, high: float) -> float:
        if not (math.isfinite(low) and math.isfinite(high)) or (low == 0.0 < high):
            return math.nan
        return high / low if low > 0.0 else 1.0

    return float(np.min([growth(low, high) for low, high in totals.reshape(-1, 2)]))


def grows_with_lr(program: Program) -> bool:
    """Whether the update grows by LR_GROWTH or more when lr doubles, at every level."""
    return lr_growth(program) >= LR_GROWTH


def lr_warning(program: Program) -> str | None:
    """One sentence for people where the program fails the check (None where it passes)."""
    growth = lr_growth(program)
    if growth >= LR_GROWTH:
        return None
    measured = (f"it grows x{growth:.2g} when lr doubles" if math.isfinite(growth)
                else "it is zero or not finite at a small lr")
    return (f"this program's update does not grow with lr ({measured}; x{LR_GROWTH:g} or more "
            "expected): the learning rate you pass and its schedule barely change what it does")
