"""Setting up a new search: calibrate on the workers, then journal. The reference's lr (AdamW's)
is swept on each task (of a portfolio, or of a run with a seed pool) and each seed program's on
the task(s), on the calibration `seeds`; a job trains one program on one task, so a program in
several sweeps (AdamW as reference and as seed) is trained once. With a seed pool, the
calibrated reference is then trained on every pool seed (`pair`), and each seed program is
scored paired with it on `max_seeds` of them (`score_seeds`)."""
from __future__ import annotations

import math
from typing import Callable, NamedTuple, Sequence

from lion_search.analysis.dedup import DedupCache
from lion_search.analysis.lr_check import grows_with_lr
from lion_search.evaluation.calibrate import best_scale, lr_sweep
from lion_search.evaluation.portfolio import REFERENCE_PROGRAM, combine
from lion_search.evaluation.results import Status
from lion_search.language.errors import LionSearchError
from lion_search.language.program import Program
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.references import load_program
from lion_search.search.config import EvolveConfig
from lion_search.search.jobs import Done, Job, Scoring
from lion_search.search.sweeps import journal_references, journal_seed

SEED_CHUNK = 4   # pool seeds per start-up job that trains the reference on every pool seed
# Trains jobs on the workers and returns their results by job id once all are in; the
# callable passed, if any, runs in this process as soon as the workers have compiled.
Runner = Callable[[Sequence[Job], Callable[[], object] | None], dict[int, Done]]
Paired = tuple[tuple[float, ...], ...]   # the reference's loss on each task and pool seed


class Calibrated(NamedTuple):
    """What set-up found: the reference's loss on each task (None: one task without a pool)
    and, with a seed pool, its loss on each task and pool seed ([task][seed])."""

    references: tuple[float, ...] | None
    paired: Paired | None


def set_up(store: RunStore, config: EvolveConfig, cache: DedupCache, run: Runner
              ) -> Calibrated:
    """Calibrate the reference and the seeds on the workers (`run`) and journal them."""
    tasks, grid = config.tasks, config.lr_grid
    reference = lr_sweep(load_program(REFERENCE_PROGRAM), grid) \
        if len(tasks) > 1 or config.pooled else []
    sweeps = {name: lr_sweep(load_program(name), grid) for name in config.seed_programs}
    programs = {str(p): p for p in reference + [p for s in sweeps.values() for p in s]}
    pairs = [(text, task) for text in programs for task in tasks]
    jobs = [Job(i, text, Scoring((task,), (math.inf,))) for i, (text, task) in enumerate(pairs)]
    first = next(iter(programs.values()))
    # This process compiles its probe (dedup keys, lr check) while the workers calibrate:
    # not while they compile, as tracing holds the GIL and training mostly does not.
    done = run(jobs, lambda: (cache.keys(first), grows_with_lr(first)))
    trained = {(job.text, job.scoring.tasks[0]): done[job.id].per_task[0] for job in jobs}
    paired, losses = None, None
    if reference:
        references = [best_scale(grid, reference, [trained[str(p), task] for p in reference])
                      for task in tasks]
        if config.pooled:
            paired = pair(config, [c.program for c in references], run)
            store.set_value("paired_references", [list(r) for r in paired])
        store.set_value("references", journal_references(
            store, cache, tasks, references, EvalKind.REFERENCE, config.seeds, paired))
        losses = tuple(c.result.fitness for c in references)
    calibrations = {name: best_scale(grid, sweep, [
        combine(tuple(trained[str(p), task] for task in tasks), losses)
        for p in sweep]) for name, sweep in sweeps.items()}
    scores = score_seeds(config, paired, {name: c.program for name, c in calibrations.items()},
                         [str(c.program) for c in references] if reference else [], run)
    seeds = [journal_seed(store, cache, name, calibration, config, scores.get(name))
             for name, calibration in calibrations.items()]
    store.set_value("seeds", seeds)
    return Calibrated(losses, paired)


def pair(config: EvolveConfig, references: Sequence[Program], run: Runner) -> Paired:
    """The calibrated reference's validation loss on each task (`references[i]` on task i)
    and every pool seed: what a child's loss on that task and seed is compared with."""
    pool = range(config.seed_pool)
    chunks = [tuple(pool[i:i + SEED_CHUNK]) for i in range(0, len(pool), SEED_CHUNK)]
    jobs = [Job(i, str(program), Scoring((task,), (math.inf,), None, chunk))
            for i, (program, task, chunk) in enumerate(
                (p, t, c) for p, t in zip(references, config.tasks) for c in chunks)]
    done = run(jobs, None)
    losses = [[v for job in jobs if job.scoring.tasks[0] == task
               for v in done[job.id].per_task[0].per_seed] for task in config.tasks]
    if not all(math.isfinite(v) and v > 0 for row in losses for v in row):
        raise LionSearchError(f"the reference, {REFERENCE_PROGRAM} at its calibrated lr, "
                              "did not train to a finite loss on every pool seed: the seed "
                              "pool cannot be scored against it")
    return tuple(tuple(row) for row in losses)


def hurdles(seeds: Sequence[dict], tasks: int) -> tuple[float, ...]:
    """Each of `tasks` tasks' hurdle: the lowest of the journaled seeds' (`seeds`; a run
    journaled before portfolios stored one number per seed)."""
    per_seed = [h if isinstance(h, list) else [h] for h in (s["hurdle"] for s in seeds)]
    return tuple(min((h[i] for h in per_seed), default=math.inf) for i in range(tasks))


def paired_scoring(config: EvolveConfig, paired: Paired, seeds: Sequence[int],
                   hurdles: Sequence[float], lr_scale: float = 1.0) -> Scoring:
    """How a program is trained on pool `seeds` (at `lr_scale` times its learning rate):
    scored paired with the reference there."""
    return Scoring(config.tasks, tuple(hurdles),
                   tuple(tuple(row[s] for s in seeds) for row in paired), tuple(seeds),
                   lr_scale)


def score_seeds(config: EvolveConfig, paired: Paired | None, calibrated: dict[str, Program],
                references: Sequence[str], run: Runner
                ) -> dict[str, tuple[dict[int, float], bool]]:
    """With a seed pool, each calibrated seed program's paired score on each of its
    `max_seeds` first pool seeds (on every pool seed, 0, where it is the reference itself on
    the one task), and whether it trained on all; empty without a pool."""
    if not config.pooled:
        return {}
    seeds = tuple(range(config.max_seeds))
    out = {name: ({s: 0.0 for s in range(config.seed_pool)}, True)
           for name, p in calibrated.items() if [str(p)] == list(references)}
    names = [n for n in calibrated if n not in out]
    scoring = paired_scoring(config, paired, seeds, [math.inf] * len(config.tasks))
    jobs = [Job(i, str(calibrated[name]), scoring) for i, name in enumerate(names)]
    done = run(jobs, None)
    for job, name in zip(jobs, names):
        result = done[job.id]
        out[name] = (dict(zip(seeds, result.per_seed)), result.status == Status.OK)
    return out
