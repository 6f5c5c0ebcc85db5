"""`Search`: regularized evolution over a run journal: set up (calibrate the seeds) or resume,
then propose children and file their results. It holds its collaborators: the population
(parents, the best, restarts), meta-validation and the promotion scheduler, each passed what it
needs; the search submits the jobs they ask for and hands each finished job to its owner."""
from __future__ import annotations

import math
import time
from concurrent.futures import Future
from typing import Callable, Sequence

import numpy as np

from lion_search.analysis.dedup import DedupCache
from lion_search.analysis.lr_check import grows_with_lr
from lion_search.evaluation.calibrate import best_scale, lr_sweep
from lion_search.evaluation.portfolio import REFERENCE_PROGRAM, combine
from lion_search.evaluation.results import Status
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.language.validate import Limits, fitting
from lion_search.runs.hall_of_fame import write_hall_of_fame
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.references import load_program
from lion_search.runs.transfer import journal_transfer
from lion_search.search.config import EvolveConfig
from lion_search.search.jobs import STARTING, Done, Job, Scoring
from lion_search.search.metavalidation import MetaValidation
from lion_search.search.mutate import mutate
from lion_search.search.observer import CALIBRATING, TRAINING, Observer, QuietObserver
from lion_search.search.pools import start_pool, stop_pool
from lion_search.search.population import Population
from lion_search.search.promotion_scheduler import PromotionScheduler
from lion_search.search.ray_pool import RayPool
from lion_search.search.records import Member, Stats
from lion_search.search.sweeps import journal_references, journal_seed

HALL_OF_FAME_EVERY = 50  # trained evaluations between rewrites of RUN/hall_of_fame.csv
# Children proposed in one pass that train nothing (cache hits, rejected, already pending)
# before the search turns to its workers; and in a row, over passes, before it gives up on a
# population whose every child is one it has seen (cache hits still age the population, so a
# long run of them is not a stall: a random walk of mutations has 85% of them).
MISSES_PER_PASS = 1000
STALL_AFTER = 200_000


class Search:
    """One search over a run journal: set up (calibrate the seeds) or resume, then evolve.

    `pool` is the future of a pool started for it (`start_pool`; by default the search starts
    one when it first needs it), and `started` the time.time() at which the command started
    (default: now), from which start-up is timed."""

    def __init__(self, store: RunStore, config: EvolveConfig, observer: Observer | None = None,
                 pool: Future | None = None, started: float | None = None):
        self.store = store
        self.config = config
        self.observer = observer or QuietObserver()
        self.pool_future = pool
        self.command_started = time.time() if started is None else started
        self.phases: list[tuple[str, float]] = []   # start-up: each phase and when it began
        # Room for the seeds and the instruction calibration adds (lr = c * lr).
        self.limits = fitting(Limits(config.max_length, config.max_memory),
                              [load_program(name) for name in config.seed_programs], 1)
        self.cache = DedupCache()
        self.pending: dict[int, tuple[Program, int | None, str, tuple[str, str]]] = {}
        self.seeds: list[dict] = []
        self.pool = None
        self.scoring: Scoring | None = None        # how children are scored (set by `run`)
        self.references: tuple[float, ...] | None = None   # a portfolio's reference losses
        self.search_seconds = 0.0      # workers' training time on children
        self.stalled = False           # whether `run` gave up: STALL_AFTER children seen before
        self.rng = np.random.default_rng([config.rng_seed, store.count()])
        self.population = Population(config.population, config.tournament, config.restart_from,
                                     self.rng)
        self.metaval = MetaValidation(store, *config.metaval, config.seeds, self.observer)
        self.promotion = PromotionScheduler(store, config, self.cache)
        self.trained = 0
        self.session_trained = 0
        self.started = time.perf_counter()

    # --------------------------------------------------------------------------- start-up

    def workers(self):
        """The pool: the one started for this search, or one started now; the observer hears
        that start-up waits for the workers while Ray starts."""
        if self.pool is None:
            self.pool_future = self.pool_future or start_pool(self.config)
            while not self.pool_future.done():
                self.waiting(STARTING)
                time.sleep(0.05)
            self.pool = self.pool_future.result()
        return self.pool

    def waiting(self, phase: str) -> None:
        """Note what start-up waits for now (a phase lasts until the next begins) and tell the
        observer."""
        seconds = time.time() - self.command_started
        if not self.phases or self.phases[-1][0] != phase:
            self.phases.append((phase, seconds))
        self.observer.starting(phase, self.stats())

    def collect(self, jobs: Sequence[Job], once_compiled: Callable[[], object] | None
                ) -> dict[int, Done]:
        """The results of submitted jobs, by job id, once all are in (start-up calibrates);
        `once_compiled()` runs as soon as the workers have compiled (or at the end)."""
        done: dict[int, Done] = {}
        while len(done) < len(jobs):
            phase = self.pool.starting()
            self.waiting(phase or CALIBRATING)
            if phase is None and once_compiled is not None:
                once_compiled()
                once_compiled = None
            done.update((d.id, d) for d in self.pool.wait(timeout=0.1))
        if once_compiled is not None:
            once_compiled()
        return done

    def journal_startup(self) -> None:
        """Journal (`startup`) and announce how long this session took from the command's
        start to its first trained evaluation, and when each start-up phase began."""
        startup = {"first_evaluation_s": round(time.time() - self.command_started, 3),
                   "phases": [[phase, round(began, 3)] for phase, began in self.phases],
                   "workers": self.config.workers,
                   "pool": "ray" if isinstance(self.pool, RayPool) else "in-process",
                   "resumed": self.trained > 1}
        self.store.set_value("startup", startup)
        self.observer.started(startup)

    def close(self) -> None:
        """Stop the workers (a pool still starting stops once it has started)."""
        if self.pool is not None:
            self.pool.close()
        elif self.pool_future is not None:
            stop_pool(self.pool_future)

    # --------------------------------------------------------------------------- set up

    def setup(self) -> None:
        """Calibrate on the workers, then journal: sweep the reference's lr on each task of a
        portfolio and each seed's lr on the task(s). A job trains one program on one task, so
        a program in several sweeps (AdamW as reference and seed) is trained once."""
        tasks, grid = self.config.tasks, self.config.lr_grid
        reference = lr_sweep(load_program(REFERENCE_PROGRAM), grid) if len(tasks) > 1 else []
        sweeps = {name: lr_sweep(load_program(name), grid) for name in self.config.seed_programs}
        programs = {str(p): p for p in reference + [p for s in sweeps.values() for p in s]}
        pairs = [(text, task) for text in programs for task in tasks]
        jobs = [Job(i, text, Scoring((task,), (math.inf,))) for i, (text, task) in enumerate(pairs)]
        self.workers().submit(jobs)
        self.waiting(self.pool.starting() or CALIBRATING)
        first = next(iter(programs.values()))
        # This process compiles its probe (dedup keys, lr check) while the workers calibrate:
        # not while they compile, as tracing holds the GIL and training mostly does not.
        done = self.collect(jobs, lambda: (self.cache.keys(first), grows_with_lr(first)))
        trained = {(job.text, job.scoring.tasks[0]): done[job.id].per_task[0] for job in jobs}
        if reference:
            references = [best_scale(grid, reference, [trained[str(p), task] for p in reference])
                          for task in tasks]
            self.store.set_value("references", journal_references(
                self.store, self.cache, tasks, references, EvalKind.REFERENCE, self.config.seeds))
            self.references = tuple(c.result.fitness for c in references)
        seeds = []
        for name, sweep in sweeps.items():
            calibration = best_scale(grid, sweep, [
                combine(tuple(trained[str(p), task] for task in tasks), self.references)
                for p in sweep])
            seeds.append(journal_seed(self.store, self.cache, name, calibration, self.config))
        self.store.set_value("seeds", seeds)
        self.store.set_value("restart_after", 0)

    def load(self) -> None:
        """Rebuild the cache, population, best, pending children and promotions from the
        journal."""
        evaluated = {e.program: e.fitness for e in self.store.evaluations(EvalKind.SEARCH)}
        for kind in (EvalKind.SEED, EvalKind.CALIBRATION):
            evaluated.update({e.program: e.fitness for e in self.store.evaluations(kind)})
        for row in self.store.programs():
            if row.id in evaluated:
                self.cache.add_keys((row.hash, row.fingerprint), evaluated[row.id])
        after = self.store.value("restart_after", 0)
        recent = [e for e in self.store.evaluations(EvalKind.SEARCH) if e.id > after]
        members = [Member(e.program, parse_program(self.store.program(e.program).text),
                          e.fitness) for e in recent[-self.config.population:]]
        self.trained = self.store.count(EvalKind.SEARCH, cached=False)
        self.search_seconds = math.fsum(e.seconds for e in self.store.evaluations(EvalKind.SEARCH))
        best = None
        top = self.store.best(1)
        if top:
            row, evaluation = top[0]
            best = Member(row.id, parse_program(row.text), evaluation.fitness)
        for row in self.store.pending():
            self.pending[row.id] = (parse_program(row.text), row.parent, row.mutation,
                                    (row.hash, row.fingerprint))
        self.seeds = self.store.value("seeds", [])
        references = self.store.value("references")
        self.references = tuple(r["fitness"] for r in references) if references else None
        promoted_best = self.promotion.resume()
        seeds = [Member(s["id"], parse_program(self.store.program(s["id"]).text), s["fitness"])
                 for s in self.seeds]
        self.population.resume(members, best, promoted_best, seeds, bool(after))

    # ------------------------------------------------------------------------ the search

    def propose(self) -> Job | None:
        """Journal one new child; a cache hit joins the population at once (returns None)."""
        parent = self.population.select_parent()
        child = mutate(parent.program, self.rng, self.config.mutation_weights, self.limits)
        keys = self.cache.keys(child.program)
        if any(keys == k for _, _, _, k in self.pending.values()):
            return None
        # A program equivalent to an evaluated one passed the lr check then: check only the new.
        if not self.config.allow_lr_free and not self.cache.contains(keys) \
                and not grows_with_lr(child.program):
            return None
        known = self.cache.lookup_keys(keys)
        pid = self.store.add_program(str(child.program), keys, parent.id,
                                     f"{child.kind}: {child.detail}", "child")
        if known is not None:
            self.store.add_evaluation(
                pid, kind=EvalKind.SEARCH, fitness=known,
                status=Status.OK if math.isfinite(known) else Status.DIVERGED, cached=True,
                task=self.config.task, seeds=self.config.seeds, seconds=0.0, worker="cache")
            self.admit(Member(pid, child.program, known))
            return None
        self.pending[pid] = (child.program, parent.id, child.kind, keys)
        return Job(pid, str(child.program), self.scoring)

    def admit(self, member: Member) -> None:
        """Add an evaluated child to the population; the observer hears of a new best."""
        if self.population.admit(member):
            self.observer.new_best(member, self.stats())

    def take(self, done: Done) -> None:
        """Journal a finished job: a child's evaluation, a meta-validation or a promotion."""
        if done.id in self.pending:
            self.record(done)
        elif self.metaval.owns(done.id):
            self.metaval.record(done)
        elif self.promotion.owns(done.id):
            round_done = self.promotion.record(done)
            for promoted in round_done:
                if promoted.new_best and self.population.promote(
                        promoted.member, self.config.promoted_seed == "join"):
                    self.observer.new_best(promoted.member, self.stats())
                self.observer.promoted(*promoted)
            if round_done:
                self.observer.transfer(journal_transfer(self.store, self.trained))

    def record(self, done: Done) -> None:
        program, _, _, keys = self.pending.pop(done.id)
        self.store.add_evaluation(done.id, kind=EvalKind.SEARCH, fitness=done.fitness,
                                  status=done.status, task=self.config.task,
                                  seeds=self.config.seeds, seconds=done.seconds,
                                  worker=done.worker)
        self.cache.add_keys(keys, done.fitness)
        self.trained += 1
        self.search_seconds += done.seconds
        self.session_trained += 1
        if self.session_trained == 1:
            self.journal_startup()
        self.admit(Member(done.id, program, done.fitness))
        if self.trained % HALL_OF_FAME_EVERY == 0:
            write_hall_of_fame(self.store)
        self.submit(self.metaval.start(self.population.best, self.trained))
        self.submit(self.promotion.start(self.trained, self.search_seconds))
        self.maybe_restart()

    def submit(self, jobs: list[Job]) -> bool:
        """Send the workers the jobs a collaborator asked for; whether there were any."""
        if jobs:
            self.pool.submit(jobs)
        return bool(jobs)

    def maybe_restart(self) -> None:
        """Every `restart_every` trained evaluations, empty the population: it refills with
        mutants of the best program or of the seeds."""
        every = self.config.restart_every
        if every and self.trained % every == 0 and self.trained < self.config.budget:
            last = self.store.evaluations(EvalKind.SEARCH, last=1)[0]
            self.store.set_value("restart_after", last.id)
            self.population.restart()

    def stats(self) -> Stats:
        elapsed = time.perf_counter() - self.started
        seed_fitness = min((s["fitness"] for s in self.seeds), default=math.inf)
        return Stats(self.trained, self.config.budget, self.cache.hits, self.cache.lookups,
                     self.session_trained / elapsed if elapsed > 0 else 0.0, self.population.best,
                     seed_fitness, self.references is not None)

    def hurdles(self) -> tuple[float, ...]:
        """Each task's hurdle: the lowest of the seeds' (a run journaled before portfolios
        stored one number)."""
        per_seed = [h if isinstance(h, list) else [h] for h in (s["hurdle"] for s in self.seeds)]
        n = len(self.config.tasks)
        return tuple(min((h[i] for h in per_seed), default=math.inf) for i in range(n))

    def run(self, time_limit: float | None = None,
            stop: Callable[[], bool] = lambda: False) -> Stats:
        """Evolve until the budget of trained evaluations is met, or the time limit passes (work
        in flight is finished), or STALL_AFTER children in a row were programs seen before, or
        ``stop()`` is true (checked after each collected batch,
        at least every second; work in flight is dropped, and a resumed run trains it again).
        The workers are stopped at the end."""
        self.observer.seeds(self.seeds)
        self.scoring = Scoring(self.config.tasks, self.hurdles(), self.references)
        try:
            pool = self.workers()
            self.started = time.perf_counter()
            deadline = math.inf if time_limit is None else time.monotonic() + time_limit
            pool.submit([Job(pid, str(p), self.scoring) for pid, (p, *_) in self.pending.items()])
            final_round = False
            misses = 0
            while not stop():
                if not self.session_trained:
                    self.waiting(pool.starting() or TRAINING)
                open_slots = self.config.budget - self.trained - len(self.pending)
                pass_misses = 0
                while open_slots > 0 and pool.in_flight < pool.capacity and not stop() \
                        and time.monotonic() < deadline and pass_misses < MISSES_PER_PASS:
                    job = self.propose()
                    if job is None:
                        misses, pass_misses = misses + 1, pass_misses + 1
                        continue
                    misses = 0
                    pool.submit([job])
                    open_slots -= 1
                if not (self.pending or self.metaval.in_flight or self.promotion.in_flight):
                    # The budget is spent: one last round promotes the best programs found.
                    if open_slots <= 0 and not final_round and self.submit(
                            self.promotion.start(self.trained, self.search_seconds, final=True)):
                        final_round = True
                        continue
                    if open_slots > 0 and time.monotonic() < deadline:
                        if misses < STALL_AFTER:
                            continue    # every child of this pass was one seen before
                        self.stalled = True
                    break
                for done in pool.wait(timeout=1.0 if self.session_trained else 0.1):
                    self.take(done)
                self.observer.update(self.stats())
        finally:
            self.close()
            write_hall_of_fame(self.store)
        return self.stats()
