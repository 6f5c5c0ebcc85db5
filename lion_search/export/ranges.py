"""What values a program's variables can take, so that an export writes an op without its guard
where the guard never acts: `m / (1 - 0.9 ** t)` rather than the safe division, since
1 - 0.9^t >= 0.1 for every step t >= 1.

Each value gets an interval [lo, hi] of the reals (NaN left aside) by interval arithmetic, from
the inputs' ranges (w, g, lr: any; t, T: >= 1; rank >= 0; fan_in, fan_out >= 1) and the
constants. A memory slot starts at 0 and takes the hull of the values written to it, to a fixed
point; a bound that still moves after `ROUNDS` rounds goes to infinity. Every rule is
conservative (an interval holds every value the op can give), so a guard is dropped only where
it cannot act. The bounds ignore float32 overflow: where they say a divisor is never 0, the
export writes `/`, which equals the language's division but for its clip at the float range.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from lion_search.language.plan import Code

INF = math.inf
ROUNDS = 4  # rounds of the slots' fixed point before a moving bound widens to infinity
TINY = 1.1754944e-38  # the smallest normal float32, where the language's log floors |x|


class Interval(NamedTuple):
    """The closed interval [lo, hi] (either bound may be infinite)."""

    lo: float
    hi: float

    def excludes_zero(self) -> bool:
        return self.lo > 0 or self.hi < 0

    def hull(self, other: Interval) -> Interval:
        return Interval(min(self.lo, other.lo), max(self.hi, other.hi))

    def magnitude(self) -> Interval:
        """The interval of |x|."""
        if self.lo >= 0:
            return self
        if self.hi <= 0:
            return Interval(-self.hi, -self.lo)
        return Interval(0.0, max(-self.lo, self.hi))


ANY = Interval(-INF, INF)
INPUT_RANGES = {"w": ANY, "g": ANY, "lr": ANY, "t": Interval(1.0, INF), "T": Interval(1.0, INF),
                "rank": Interval(0.0, INF), "fan_in": Interval(1.0, INF),
                "fan_out": Interval(1.0, INF)}


def _product(a: float, b: float) -> float:
    """a * b with 0 * inf = 0: a bound times an unattained infinite bound."""
    return 0.0 if a == 0 or b == 0 else a * b


def _monotone(f: Callable[[float], float], x: Interval) -> Interval:
    """The image of x under a non-decreasing f (overflow gives infinity)."""
    def value(v: float) -> float:
        try:
            return f(v)
        except OverflowError:
            return INF
    return Interval(value(x.lo), value(x.hi))


def _exp(v: float) -> float:
    return 0.0 if v == -INF else INF if v > 700 else math.exp(v)


def _times(a: Interval, b: Interval) -> Interval:
    corners = [_product(x, y) for x in a for y in b]
    return Interval(min(corners), max(corners))


def _divide(a: Interval, b: Interval) -> Interval:
    """a / b with the language's x / 0 = 0."""
    if not b.excludes_zero():  # the quotients' signs, and 0
        if (a.lo >= 0 and b.lo >= 0) or (a.hi <= 0 and b.hi <= 0):
            return Interval(0.0, INF)
        if (a.lo >= 0 and b.hi <= 0) or (a.hi <= 0 and b.lo >= 0):
            return Interval(-INF, 0.0)
        return ANY
    corners = [0.0 if y in (INF, -INF) else x / y for x in a for y in b]
    corners = [c for c in corners if not math.isnan(c)]
    return Interval(min(corners), max(corners)) if corners else ANY


def _power(a: Interval, b: Interval) -> Interval:
    """|a| ** b (the language's sign rules aside: the result may take either sign unless a > 0)."""
    if a.lo <= 0:
        return ANY
    logs = [math.log(x) if x != INF else INF for x in a]
    corners = [_exp(_product(y, x)) for x in logs for y in b]
    return Interval(min(corners), max(corners))


def _interp(x: Interval, y: Interval, a: Interval) -> Interval:
    """(1 - a) x + a y: a convex combination where 0 <= a <= 1."""
    if 0 <= a.lo and a.hi <= 1:
        return x.hull(y)
    one_minus = Interval(1 - a.hi, 1 - a.lo)
    total = [_times(one_minus, x), _times(a, y)]
    return Interval(total[0].lo + total[1].lo, total[0].hi + total[1].hi)


def _sign(v: float) -> float:
    return (v > 0) - (v < 0)


def _log(x: Interval) -> Interval:
    m = x.magnitude()
    return _monotone(math.log, Interval(max(m.lo, TINY), max(m.hi, TINY)))


def _rsqrt(x: Interval) -> Interval:
    """1 / sqrt|x|, and 0 at x = 0."""
    m = x.magnitude()
    if m.lo == 0:
        return Interval(0.0, INF)
    return Interval(0.0 if m.hi == INF else 1 / math.sqrt(m.hi), 1 / math.sqrt(m.lo))


def _clip(x: Interval, c: Interval) -> Interval:
    bound = c.magnitude().hi
    return Interval(min(max(x.lo, -bound), bound), max(min(x.hi, bound), -bound))


def _cosh(x: Interval) -> Interval:
    m = x.magnitude()
    return _monotone(lambda v: INF if v > 700 else math.cosh(v), m)


def _add(a: Interval, b: Interval) -> Interval:
    lo, hi = a.lo + b.lo, a.hi + b.hi
    return Interval(-INF if math.isnan(lo) else lo, INF if math.isnan(hi) else hi)


UNIT = Interval(0.0, 1.0)
RULES: dict[str, Callable[..., Interval]] = {
    "add": _add,
    "sub": lambda a, b: _add(a, Interval(-b.hi, -b.lo)),
    "mul": _times,
    "div": _divide,
    "mod": lambda a, b: (Interval(0.0, b.hi) if b.lo > 0 else Interval(b.lo, 0.0)
                         if b.hi < 0 else ANY),
    "pow": _power,
    "neg": lambda x: Interval(-x.hi, -x.lo),
    "abs": Interval.magnitude,
    "sign": lambda x: Interval(_sign(x.lo), _sign(x.hi)),
    "sqrt": lambda x: _monotone(math.sqrt, x.magnitude()),
    "rsqrt": _rsqrt,
    "square": lambda x: _monotone(lambda v: v * v, x.magnitude()),
    "exp": lambda x: _monotone(_exp, x),
    "expm1": lambda x: _monotone(lambda v: _exp(v) - 1, x),
    "log": _log,
    "log1p": lambda x: _monotone(math.log1p, x) if x.lo > -1 else ANY,
    "max": lambda a, b: Interval(max(a.lo, b.lo), max(a.hi, b.hi)),
    "min": lambda a, b: Interval(min(a.lo, b.lo), min(a.hi, b.hi)),
    "interp": _interp,
    "clip": _clip,
    "tanh": lambda x: _monotone(math.tanh, x),
    "arcsin": lambda x: Interval(-math.pi / 2, math.pi / 2) if x.lo < -1 or x.hi > 1 else
    _monotone(math.asin, x),
    "arctan": lambda x: _monotone(math.atan, x),
    "cosh": _cosh,
    "cos": lambda x: Interval(-1.0, 1.0),
    "sin": lambda x: Interval(-1.0, 1.0),
    "where": lambda c, a, b: a.hull(b),
    **{op: (lambda a, b: UNIT) for op in ("lt", "le", "gt", "ge", "eq", "ne")},
    "copy": lambda x: x,
    "mean": lambda x: x,
    "row_mean": lambda x: x,
    "col_mean": lambda x: x,
    "global_mean": lambda x: x,
    "rms": Interval.magnitude,
    "global_rms": Interval.magnitude,
    "norm": lambda x: Interval(0.0, INF) if x.magnitude().lo == 0 else Interval(
        x.magnitude().lo, INF),
    "global_norm": lambda x: Interval(0.0, INF) if x.magnitude().lo == 0 else Interval(
        x.magnitude().lo, INF),
    "orthogonalize": lambda x: ANY,
}


def _widen(old: Interval, new: Interval) -> Interval:
    return Interval(old.lo if new.lo >= old.lo else -INF, old.hi if new.hi <= old.hi else INF)


def arg_ranges(code: Code) -> list[tuple[Interval, ...]]:
    """For each instruction, the interval of each of its arguments (the slots at their fixed
    point); index len(code.body) holds the outputs'."""
    slots = {m: Interval(0.0, 0.0) for m in code.memory}
    rounds = 0
    while True:
        env = dict(INPUT_RANGES) | slots
        ranges = []
        for dst, op, args in code.body:
            values = tuple(env[a] if isinstance(a, str) else Interval(a, a) for a in args)
            ranges.append(values)
            env[dst] = RULES[op](*values)
        outputs = tuple(env[a] if isinstance(a, str) else Interval(a, a) for a in code.outputs)
        grown = {m: slots[m].hull(v) for m, v in zip(code.memory, outputs[1:])}
        if grown == slots:
            return ranges + [outputs]
        rounds += 1
        slots = grown if rounds < ROUNDS else {m: _widen(slots[m], grown[m]) for m in slots}
