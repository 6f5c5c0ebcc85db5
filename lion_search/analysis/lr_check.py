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

The contexts: a program whose live code reads a training's length T or a tensor's rank, fan_in
or fan_out is checked too at every T of LR_TOTAL_STEPS with every tensor declaration of the
fingerprint (`dedup.FINGERPRINT_FACTS`), at L = 0.5, and passes only if it passes in each:
searches found programs lr-free past a length, `where(T >= 136.8, m, lr)`, which passed at the
probe's T = 100 and trained every task of 200 steps or more with no lr at all (BENCHMARKS
section 26). Other programs update alike in every context, so the probe's own measures them.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from lion_search.analysis.dedup import FINGERPRINT_FACTS, FINGERPRINT_SHAPES, fingerprint_inputs
from lion_search.evaluation.interpreter import PROBE_STEPS_T, probe, size_for
from lion_search.language.program import SHAPE_INPUTS, Program
from lion_search.simplify.dead_code import live_reads

LR_GROWTH = 1.5   # the least growth of the update when lr doubles (a linear update: 2)
LR_STEPS = 8
LR_LEVELS: tuple[float, ...] = (0.5, 1e-3)
# The training lengths T a program that reads T (or a tensor's facts) is checked at: the
# project's tasks run 100 to 1,200 steps, users' trainings many more.
LR_TOTAL_STEPS: tuple[float, ...] = (100.0, 1_000.0, 10_000.0, 100_000.0)


@functools.lru_cache(maxsize=None)
def _inputs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(w, grads[steps, entries], ts[steps]): the fingerprint's w and g, and t = 1, ..., K."""
    inputs = fingerprint_inputs(LR_STEPS, 0)
    return inputs.w, inputs.grads, np.arange(1, LR_STEPS + 1, dtype=np.float32)


def reads_shape_inputs(program: Program) -> bool:
    """Whether an instruction from which the update is reachable reads T, rank, fan_in or
    fan_out."""
    return not live_reads(program).isdisjoint(SHAPE_INPUTS)


def contexts(program: Program) -> list[tuple[float, tuple | None, float]]:
    """The (T, tensor declaration, lr level) in which the program's growth is measured: the
    probe's own T and tensors at every level of LR_LEVELS and, for a program that reads T or
    a tensor's facts, every other pair of LR_TOTAL_STEPS and FINGERPRINT_FACTS at the first
    level (a branch on T or on a tensor's facts leaves lr out at every level alike)."""
    own = [(PROBE_STEPS_T, None, level) for level in LR_LEVELS]
    if not reads_shape_inputs(program):
        return own
    return own + [(total, facts, LR_LEVELS[0]) for total in LR_TOTAL_STEPS
                  for facts in FINGERPRINT_FACTS if (total, facts) != (PROBE_STEPS_T, None)]


def growth(low: float, high: float) -> float:
    """high / low, the update's growth from one run to the other; 1 where both are zero, NaN
    where either is not finite or only the first is zero."""
    if not (math.isfinite(low) and math.isfinite(high)) or (low == 0.0 < high):
        return math.nan
    return high / low if low > 0.0 else 1.0


def context_growths(program: Program, runs: Sequence[tuple[float, tuple | None, float]]
                    ) -> list[float]:
    """growth(L) in each context (T, tensor declaration, L) of `runs`, all in one probe call:
    runs share w, g and t."""
    w, grads, ts = _inputs()
    lrs = np.array([lr for _, _, level in runs for lr in (level, 2.0 * level)], np.float32)
    n = len(lrs)
    doubled = [(total, facts) for total, facts, _ in runs for _ in range(2)]   # at L and 2L
    with np.errstate(all="ignore"):
        updates = probe(program, FINGERPRINT_SHAPES, np.broadcast_to(w, (n, w.size)),
                        np.zeros((n, size_for(program).memory, w.size), np.float32),
                        np.broadcast_to(grads, (n,) + grads.shape),
                        np.repeat(lrs[:, None], LR_STEPS, axis=1),
                        np.broadcast_to(ts, (n, LR_STEPS)),
                        facts=[facts for _, facts in doubled],
                        total_steps=[total for total, _ in doubled])[:, :, 0]
    # sum_k ||u_k|| of each run, in float64 so that the sum cannot overflow.
    totals = np.linalg.norm(updates.astype(np.float64), axis=2).sum(axis=1)
    return [growth(low, high) for low, high in totals.reshape(-1, 2)]


def lr_growth(program: Program) -> float:
    """min of `context_growths` over the program's `contexts`; NaN if any is."""
    return float(np.min(context_growths(program, contexts(program))))


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
