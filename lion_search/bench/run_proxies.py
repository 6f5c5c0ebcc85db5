"""Which proxy ranks a search's own leaders as its promotion does (`lion-search bench --proxies
--run RUN`).

A proxy earns its place by rank agreement with the targets among the programs a search has to
choose between, not only over a corpus of programs that differ much more (`bench.proxies`). Here
the programs are a run's promoted ones (its proxy's leaders, and the seed), and the targets are
what its promotion measured: the promoted score s_i (the worst promotion task's log ratio of the
loss to AdamW's, through the same protocol) and each promotion task's loss.

Every candidate proxy (`proxies.candidate_proxies`, the promotion tasks and the 10x and 100x
tasks left out) trains every
promoted program as the proxy benchmark trains its corpus: the program's leading `lr = c * lr`
taken off, an anchor lr from the 9-point sweep on digits-mlp, then the proxy's 5-point sweep
around the anchor, grown past an edge while its best lies there; but over RUN_SEEDS, training
seeds that neither the search (its pool 0..N-1) nor promotion (10000 on) trained on, so that no
proxy shares its noise with the targets. Kendall's tau-b of each proxy's score against s and
against each task's loss. The first row is the run's own proxy fitness as journaled: the
in-run transfer (`runs.transfer`), which the search's leaders were selected on.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from lion_search.analysis.agreement import kendall_tau
from lion_search.bench import proxies, proxy_targets
from lion_search.bench.trainings import Progress, Trainer
from lion_search.language.lr_scale import unscale_lr
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.transfer import transfer
from lion_search.search.config import EvolveConfig

RUN_SEEDS = (30_000, 30_001)
TOO_LARGE = ("10x", "100x")   # a proxy as large as promotion's largest task saves nothing
JOURNALED = "the run's proxy fitness, as journaled"


class PromotedTargets(NamedTuple):
    """A run's promoted programs (by "#id", each without its leading lr scale), what its
    promotion measured of each, and the proxy fitness it journaled."""

    proxy: str                              # the run's search task
    tasks: tuple[str, ...]                  # its promotion tasks
    programs: dict[str, Program]
    scores: dict[str, float]                # promoted score
    losses: dict[str, dict[str, float]]     # program -> task -> promotion loss
    fitness: dict[str, float]               # journaled proxy fitness


class RunProxyRow(NamedTuple):
    """One proxy's agreement with a run's promotion: tau against the promoted score and
    against each promotion task's loss."""

    name: str
    seconds: float              # per evaluation, one seed, on one core (0: journaled)
    tau_score: float
    taus: dict[str, float]


def read_promoted(folder: Path) -> PromotedTargets:
    """The promoted programs of the run in `folder` and what its promotion measured of them;
    ValueError when it promoted too few to rank."""
    store = RunStore.open(folder)
    try:
        config = EvolveConfig.from_json(store.config)
        scores = {e.program: e.fitness for e in store.evaluations(EvalKind.PROMOTED)}
        losses: dict[int, dict[str, float]] = {pid: {} for pid in scores}
        for e in store.evaluations(EvalKind.PROMOTION):
            if e.program in losses:
                losses[e.program][e.task] = e.fitness
        texts = {pid: store.program(pid).text for pid in scores}
        fitness = {p.program: p.fitness for p in transfer(store).points}
    finally:
        store.close()
    if len(scores) < 3:
        raise ValueError(f"run {folder} promoted {len(scores)} program(s); ranking needs 3 or "
                         "more")
    tasks, _ = config.promotion
    name = {pid: f"#{pid}" for pid in scores}
    return PromotedTargets(config.task, tuple(tasks),
                           {name[p]: unscale_lr(parse_program(t))[0] for p, t in texts.items()},
                           {name[p]: s for p, s in scores.items()},
                           {name[p]: {t: per.get(t, math.inf) for t in tasks}
                            for p, per in losses.items()},
                           {name[p]: fitness.get(p, math.inf) for p in scores})


def agreement(name: str, seconds: float, values: Sequence[float], targets: PromotedTargets,
              names: Sequence[str]) -> RunProxyRow:
    """The row of a proxy whose scores of `names` (in order) are `values`."""
    return RunProxyRow(name, seconds, kendall_tau(values, [targets.scores[n] for n in names]),
                       {t: kendall_tau(values, [targets.losses[n][t] for n in names])
                        for t in targets.tasks})


def rank_against_run(targets: PromotedTargets, threads: int, progress: Progress | None = None,
                     seeds: tuple[int, ...] = RUN_SEEDS,
                     candidates: Sequence[proxies.Proxy] | None = None) -> list[RunProxyRow]:
    """Train the promoted programs on every candidate proxy (default: `candidate_proxies` of
    the promotion tasks, none of a scale in TOO_LARGE) over `seeds` and measure each; the
    journaled row first, then the proxies from the cheapest up."""
    names = sorted(targets.programs)
    plan = proxy_targets.funnel_plan()
    trainer = Trainer(targets.programs, threads, progress)
    anchors = proxy_targets.anchor_lrs(trainer, names, plan)
    measured = []
    for proxy in (proxies.candidate_proxies(targets.tasks, TOO_LARGE) if candidates is None
                  else candidates):
        scores = proxies.proxy_scores(proxy, anchors, plan, names, trainer, seeds)
        seconds = math.fsum(trainer.cost_per_seed(t) for t in proxy.tasks)
        contains = [t.name for t in proxy.tasks if t.name in targets.tasks]
        name = proxy.name + (f" (contains {', '.join(contains)})" if contains else "")
        measured.append(agreement(name, seconds, scores, targets, names))
    journaled = agreement(JOURNALED, 0.0, [targets.fitness[n] for n in names], targets, names)
    return [journaled, *sorted(measured, key=lambda row: row.seconds)]


def agreement_table(rows: Sequence[RunProxyRow], tasks: Sequence[str]) -> str:
    """The rows in markdown: proxy, cost, tau against the promoted score and each task."""
    def tau(x: float) -> str:
        return "" if math.isnan(x) else f"{x:+.2f}"

    head = ["proxy", "s/eval", "promoted score", *tasks]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows:
        lines.append("| " + " | ".join([r.name, f"{r.seconds:.3f}" if r.seconds else "",
                                        tau(r.tau_score), *(tau(r.taus[t]) for t in tasks)])
                     + " |")
    return "\n".join(lines)
