"""Which proxy predicts the targets: `lion-search bench --proxies`.

A search climbs its proxy; a proxy is worth its cost only if it ranks programs as the larger
target tasks do. Every candidate proxy trains every corpus program (`proxy_targets`) with its lr
tuned as the targets' stage B tunes it (anchor x 0.1 .. 10, 5 points, extended beyond an edge
while the best lies there), on seed 0 (as a search trains a child on one seed), and is scored by

    score(p) = min over lr of  mean over the proxy's tasks i of  log s_i(p, lr)

where s_i is what the proxy reads off training on task i: the final validation loss (as a
search does), the training loss over the last 10% of steps, or the training loss averaged over
all steps. A failed run scores +inf. With one task this ranks as s itself; with several it
ranks as a portfolio's fitness does (the mean log ratio to a reference's losses differs from
it by a constant).

Measures, all from the same run: a proxy's cost (the median seconds of one training of one
seed on each of its tasks, summed: what a search pays per child on one core, with one training
per core at once), and Kendall's tau (`analysis.agreement`) between its score and each target
loss, and the mean target rank. A proxy that contains a target task agrees with that target
in part by construction, so it is also measured against the mean rank of the targets it does
not contain (`tau_other`); that column chooses the default proxy (`supported`).
"""
from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from lion_search.analysis.agreement import kendall_tau, mean_rank
from lion_search.bench.proxy_targets import TargetPlan, Targets
from lion_search.bench.trainings import (
    Progress,
    TaskRef,
    Trainer,
    Training,
    adaptive_sweep,
)
from lion_search.evaluation.portfolio import portfolios
from lion_search.evaluation.results import EvalResult, Status
from lion_search.evaluation.tasks import get_task, task_names
from lion_search.language.program import Program

PROXY_SEEDS = (0,)
TAIL = 0.1                  # the final training loss: the mean over this share of the steps
MIN_SCORE = 1e-12           # the smallest score a log is taken of (a solved synthetic task)
AGREEMENT = 0.6             # tau against the mean target rank a default proxy needs


class Score(enum.Enum):
    """What a proxy reads off a training run."""

    VALIDATION = "validation loss"
    FINAL_TRAINING = "final training loss"
    MEAN_TRAINING = "mean training loss"


class Proxy(NamedTuple):
    """A candidate proxy: tasks trained with one lr, read by `score`."""

    name: str
    tasks: tuple[TaskRef, ...]
    score: Score = Score.VALIDATION


def score_of(result: EvalResult, score: Score) -> float:
    """What `score` reads off one training result (inf for a failed run)."""
    if result.status != Status.OK or not math.isfinite(result.fitness):
        return math.inf
    if score is Score.VALIDATION:
        return result.fitness
    curve = np.asarray(result.curve, dtype=float)
    tail = curve[-max(1, round(TAIL * len(curve))):] if score is Score.FINAL_TRAINING else curve
    value = float(np.mean(tail))
    return value if math.isfinite(value) else math.inf


def candidate_proxies(targets: Sequence[str], too_large: Sequence[str] = ("100x",)
                      ) -> list[Proxy]:
    """The candidates: every built-in task that is no target and not larger than the targets
    (of no scale in `too_large`), read by its validation loss (digits-mlp at batch 512, 4x, is one:
    digits-mlp-b512); the named portfolios; the digits tasks read by the training loss instead;
    digits-cnn-mini at batch 512; the synthetic tasks together; and mixes of the digits tasks
    with the shorter language model, text-lm-micro."""
    singles = [t for t in task_names()
               if t not in targets and get_task(t).scale not in too_large]
    proxies = [Proxy(t, (TaskRef(t),)) for t in singles]
    named = portfolios()
    proxies += [Proxy(f"{name} (portfolio)", tuple(TaskRef(t) for t in tasks))
                for name, tasks in named.items()]
    for name, tasks in (("digits-mlp", ("digits-mlp",)), ("digits-cnn-mini", ("digits-cnn-mini",)),
                        ("digits (portfolio)", named["digits"])):
        for score in (Score.FINAL_TRAINING, Score.MEAN_TRAINING):
            proxies.append(Proxy(f"{name}, {score.value}", tuple(TaskRef(t) for t in tasks), score))
    proxies.append(Proxy("digits-cnn-mini batch 512", (TaskRef("digits-cnn-mini", 512),)))
    proxies.append(Proxy("quadratic + rosenbrock + logreg",
                         tuple(TaskRef(t) for t in ("quadratic", "rosenbrock", "logreg"))))
    micro = TaskRef("text-lm-micro")
    proxies += [Proxy("digits-mlp + text-lm-micro", (TaskRef("digits-mlp"), micro)),
                Proxy("digits + text-lm-micro", (*(TaskRef(t) for t in named["digits"]), micro))]
    return proxies


class ProxyRow(NamedTuple):
    """One proxy's line of the table."""

    proxy: Proxy
    seconds: float                   # per evaluation, one seed, on one core
    taus: dict[str, float]           # target task -> tau
    tau_mean: float                  # against the mean target rank
    tau_other: float                 # against the mean rank of the targets it does not contain
    contains: tuple[str, ...]        # the target tasks among its own


def proxy_value(proxy: Proxy, results: Sequence[EvalResult]) -> float:
    """The proxy's score of one program at one lr from its result on each of the proxy's tasks:
    the mean log of what the proxy reads off them (inf if any failed)."""
    values = [score_of(r, proxy.score) for r in results]
    if not all(map(math.isfinite, values)):
        return math.inf
    return float(np.mean([math.log(max(v, MIN_SCORE)) for v in values]))


def proxy_scores(proxy: Proxy, anchors: dict[str, float], plan: TargetPlan,
                 names: Sequence[str], trainer: Trainer, seeds: tuple[int, ...] = PROXY_SEEDS
                 ) -> list[float]:
    """Each program's score on the proxy over `seeds`, its lr tuned as the targets' stage B
    is (the anchor x the stage's grid, extended beyond an edge while the best lies there), in
    `names` order."""
    def score(lrs: dict[str, list[float]]) -> dict[str, dict[float, float]]:
        done = trainer.train(Training(n, task, lr, seeds) for n, grid in lrs.items()
                             for lr in grid for task in proxy.tasks)
        return {n: {lr: proxy_value(proxy, [done[Training(n, task, lr, seeds)]
                                            for task in proxy.tasks]) for lr in grid}
                for n, grid in lrs.items()}

    sweeps = adaptive_sweep({n: anchors[n] for n in names}, plan.b_grid, plan.extend, score,
                            float)
    return [min(sweeps[n].values()) for n in names]


def proxy_row(proxy: Proxy, scores: Sequence[float], seconds: float, targets: Targets,
              names: Sequence[str]) -> ProxyRow:
    """A proxy's agreement with each target and with the mean target rank."""
    tasks = targets.plan.tasks
    columns = {task: targets.column(task, names) for task in tasks}
    contains = tuple(t for t in tasks if TaskRef(t) in proxy.tasks)
    others = [columns[t] for t in tasks if t not in contains]
    tau_mean = kendall_tau(scores, mean_rank(list(columns.values())))
    tau_other = kendall_tau(scores, mean_rank(others)) if others else math.nan
    return ProxyRow(proxy, seconds, {t: kendall_tau(scores, c) for t, c in columns.items()},
                    tau_mean, tau_other, contains)


def benchmark_proxies(programs: dict[str, Program], targets: Targets, proxies: Sequence[Proxy],
                      threads: int, progress: Progress | None = None) -> list[ProxyRow]:
    """Train every proxy's trainings (once each: proxies that share a task share them) and
    measure each proxy; rows from the cheapest proxy up."""
    names = sorted(programs)
    trainer = Trainer(programs, threads, progress)
    scores = {proxy: proxy_scores(proxy, targets.anchors, targets.plan, names, trainer)
              for proxy in proxies}
    rows = [proxy_row(proxy, scores[proxy],
                      math.fsum(trainer.cost_per_seed(task) for task in proxy.tasks),
                      targets, names) for proxy in proxies]
    return sorted(rows, key=lambda row: row.seconds)


def supported(rows: Sequence[ProxyRow], threshold: float = AGREEMENT) -> tuple[ProxyRow, bool]:
    """The proxy the table supports: the cheapest whose tau against the mean rank of the
    targets it does not contain reaches `threshold` (True), else the one with the highest
    such tau (False)."""
    if not rows:
        raise ValueError("no proxy was measured")
    reaching = [r for r in rows if r.tau_other >= threshold]
    if reaching:
        return min(reaching, key=lambda r: r.seconds), True
    return max(rows, key=lambda r: -math.inf if math.isnan(r.tau_other) else r.tau_other), False


def markdown_table(rows: Sequence[ProxyRow], tasks: Sequence[str]) -> str:
    """The table in markdown: proxy, cost, tau per target, tau against the mean ranks."""
    def tau(x: float) -> str:
        return "" if math.isnan(x) else f"{x:+.2f}"

    head = ["proxy", "s/eval", *tasks, "mean rank", "mean rank of the other targets"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        cells = [r.proxy.name + (" (contains " + ", ".join(r.contains) + ")" if r.contains else ""),
                 f"{r.seconds:.3f}", *(tau(r.taus[t]) for t in tasks), tau(r.tau_mean),
                 tau(r.tau_other)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
