"""Unit-peak learning-rate schedule shapes, built on optax's schedules.

Each schedule ``s`` maps a 0-based step ``t`` in ``[0, steps)`` to a multiplier with
``max_t s(t) = 1``; a training run uses ``lr * s(t)``, so the peak learning rate is ``lr``.
"""

from __future__ import annotations

from collections.abc import Callable

import optax

WARMUP_FRACTION = 0.05


def warmup_cosine(steps: int) -> optax.Schedule:
    """Linear warmup from 0 to 1 over the first 5% of steps, then cosine decay to 0 at ``steps``:
    ``s(t) = t / w`` for ``t < w``, else ``(1 + cos(pi (t - w) / (steps - w))) / 2``."""
    warmup = max(1, round(WARMUP_FRACTION * steps))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=1.0, warmup_steps=warmup, decay_steps=steps, end_value=0.0
    )


def constant(steps: int) -> optax.Schedule:
    """``s(t) = 1``."""
    del steps
    return optax.constant_schedule(1.0)


def exponential(steps: int) -> optax.Schedule:
    """Exponential decay by 100x over the run: ``s(t) = 0.01 ** (t / steps)``."""
    return optax.exponential_decay(init_value=1.0, transition_steps=steps, decay_rate=0.01)


def power(steps: int) -> optax.Schedule:
    """Polynomial (quadratic) decay to 0: ``s(t) = (1 - t / steps) ** 2``."""
    return optax.polynomial_schedule(
        init_value=1.0, end_value=0.0, power=2.0, transition_steps=steps
    )


def piecewise(steps: int) -> optax.Schedule:
    """Piecewise constant: 1, then x0.1 at 50% and again x0.1 at 75% of the steps."""
    return optax.piecewise_constant_schedule(
        init_value=1.0, boundaries_and_scales={steps // 2: 0.1, (3 * steps) // 4: 0.1}
    )


def onecycle(steps: int) -> optax.Schedule:
    """1cycle: cosine rise from 1/25 to 1 over the first 30% of steps, then cosine decay to 4e-6."""
    return optax.cosine_onecycle_schedule(
        transition_steps=steps, peak_value=1.0, pct_start=0.3, div_factor=25.0, final_div_factor=1e4
    )


SCHEDULES: dict[str, Callable[[int], optax.Schedule]] = {
    "warmup_cosine": warmup_cosine,
    "constant": constant,
    "exponential": exponential,
    "power": power,
    "piecewise": piecewise,
    "onecycle": onecycle,
}


def make_schedule(name: str, steps: int) -> optax.Schedule:
    """The unit-peak schedule ``name`` for a run of ``steps`` steps (``ValueError`` if unknown)."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; known schedules: {', '.join(SCHEDULES)}")
    return SCHEDULES[name](steps)
