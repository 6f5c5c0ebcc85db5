"""`Search`: regularized evolution over a run journal: set up (calibrate the seeds) or resume,
then propose children and file their results. It holds its collaborators: the population
(parents, the best, restarts), meta-validation and the promotion scheduler, each passed what it
needs; the search submits the jobs they ask for and hands each finished job to its owner.

A search runs one of two ways:
- asynchronous: a child is proposed whenever the workers have room, and results are filed as
  they arrive, so what is proposed depends on when results come back;
- deterministic (`EvolveConfig.reproducible`: with one worker, or `--deterministic`): children
  are proposed in generations of `generation`, from the population as the last generation left
  it and with the random stream seeded from (rng_seed, generation); the jobs a collaborator asks
  for while a generation is filed go with the next one; every result is filed in the order its
  job was sent. Whatever the number of workers and however long each training takes, the same
  settings give the same journal. Writes are held (`RunStore.hold`) between checkpoints, quiet
  generation boundaries where the population is journaled too (`search.checkpoint`), so that a
  run killed at any moment resumes from one and goes on as if it had never stopped."""
from __future__ import annotations

import json
import math
import time
from concurrent.futures import Future
from typing import Callable, NamedTuple, Sequence

import numpy as np

from lion_search.analysis.dedup import DedupCache
from lion_search.analysis.lr_check import grows_with_lr
from lion_search.evaluation.calibrate import best_scale, lr_sweep
from lion_search.evaluation.portfolio import REFERENCE_PROGRAM, combine
from lion_search.evaluation.results import Status
from lion_search.language.errors import LionSearchError
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.language.validate import Limits, fitting
from lion_search.runs.hall_of_fame import write_hall_of_fame
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.references import load_program
from lion_search.runs.transfer import journal_transfer
from lion_search.search import checkpoint
from lion_search.search.config import EvolveConfig
from lion_search.search.held_back import HeldBackCheck
from lion_search.search.instances import Instances
from lion_search.search.jobs import STARTING, Done, Job, Scoring, estimated_flops
from lion_search.search.metavalidation import MetaValidation
from lion_search.search.mutate import Mutation, mutate
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
SEED_CHUNK = 4   # pool seeds per start-up job that trains the reference on every pool seed
REEVALUATION = "re-evaluation"   # the mutation kind of a parent trained again on new seeds


class Pending(NamedTuple):
    """A child journaled and sent to train: its program, parent, mutation kind, dedup keys and
    training seeds (empty: the run's `seeds`, without a seed pool)."""

    program: Program
    parent: int | None
    kind: str
    keys: tuple[str, str]
    seeds: tuple[int, ...] = ()


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
        self.pending: dict[int, Pending] = {}
        self.seeds: list[dict] = []
        self.pool = None
        self.scoring: Scoring | None = None        # how children are scored (set by `run`)
        self.references: tuple[float, ...] | None = None   # a portfolio's reference losses
        # With a seed pool: the reference's loss on each task and pool seed, [task][seed].
        self.paired: tuple[tuple[float, ...], ...] | None = None
        self.search_seconds = 0.0      # workers' training time on children
        self.search_flops = 0          # their estimated flops (a deterministic search's measure)
        self.deterministic = config.reproducible
        self.generation = 0            # a deterministic search's next generation
        self.misses = 0                # children in a row that trained nothing
        self.queued: list[Job] = []    # (deterministic) collaborators' jobs for the next generation
        self.stalled = False           # whether `run` gave up: STALL_AFTER children seen before
        self.rng = np.random.default_rng([config.rng_seed, store.count()])
        self.instances = Instances(config.seed_pool, config.fitness_seeds, config.max_seeds,
                                   config.prior_seeds, config.rotate_every) \
            if config.pooled else None
        self.population = Population(config.population, config.tournament, config.restart_from,
                                     self.rng)
        self.metaval = MetaValidation(store, *config.metaval, config.seeds, self.observer)
        self.promotion = PromotionScheduler(store, config, self.cache)
        self.held_back = HeldBackCheck(store, config)
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
        """Calibrate on the workers, then journal: sweep the reference's lr on each task (of a
        portfolio, or of a run with a seed pool) and each seed's lr on the task(s), on the
        calibration `seeds`. A job trains one program on one task, so a program in several
        sweeps (AdamW as reference and seed) is trained once. With a seed pool, the calibrated
        reference is then trained on every pool seed (`pair`) and each seed program scored on
        `max_seeds` of them."""
        tasks, grid = self.config.tasks, self.config.lr_grid
        reference = lr_sweep(load_program(REFERENCE_PROGRAM), grid) \
            if len(tasks) > 1 or self.config.pooled else []
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
            if self.config.pooled:
                self.paired = self.pair([c.program for c in references])
                self.store.set_value("paired_references", [list(r) for r in self.paired])
            self.store.set_value("references", journal_references(
                self.store, self.cache, tasks, references, EvalKind.REFERENCE, self.config.seeds,
                self.paired))
            self.references = tuple(c.result.fitness for c in references)
        calibrations = {name: best_scale(grid, sweep, [
            combine(tuple(trained[str(p), task] for task in tasks), self.references)
            for p in sweep]) for name, sweep in sweeps.items()}
        scores = self.score_seeds(
            {name: c.program for name, c in calibrations.items()},
            [str(c.program) for c in references] if reference else [])
        seeds = [journal_seed(self.store, self.cache, name, calibration, self.config,
                              scores.get(name)) for name, calibration in calibrations.items()]
        self.store.set_value("seeds", seeds)
        self.store.set_value("restart_after", 0)

    def pair(self, references: Sequence[Program]) -> tuple[tuple[float, ...], ...]:
        """The calibrated reference's validation loss on each task (`references[i]` on task i)
        and every pool seed: what a child's loss on that task and seed is compared with."""
        pool = range(self.config.seed_pool)
        chunks = [tuple(pool[i:i + SEED_CHUNK]) for i in range(0, len(pool), SEED_CHUNK)]
        jobs = [Job(i, str(program), Scoring((task,), (math.inf,), None, chunk))
                for i, (program, task, chunk) in enumerate(
                    (p, t, c) for p, t in zip(references, self.config.tasks) for c in chunks)]
        self.pool.submit(jobs)
        done = self.collect(jobs, None)
        losses = [[v for job in jobs if job.scoring.tasks[0] == task
                   for v in done[job.id].per_task[0].per_seed] for task in self.config.tasks]
        if not all(math.isfinite(v) and v > 0 for row in losses for v in row):
            raise LionSearchError(f"the reference, {REFERENCE_PROGRAM} at its calibrated lr, "
                                  "did not train to a finite loss on every pool seed: the seed "
                                  "pool cannot be scored against it")
        return tuple(tuple(row) for row in losses)

    def paired_scoring(self, seeds: Sequence[int], hurdles: Sequence[float] | None = None
                       ) -> Scoring:
        """How a program is trained on pool `seeds`: scored paired with the reference there."""
        hurdles = self.hurdles() if hurdles is None else tuple(hurdles)
        return Scoring(self.config.tasks, hurdles,
                       tuple(tuple(row[s] for s in seeds) for row in self.paired), tuple(seeds))

    def score_seeds(self, calibrated: dict[str, Program], references: Sequence[str]
                    ) -> dict[str, tuple[dict[int, float], bool]]:
        """With a seed pool, each calibrated seed program's paired score on each of its
        `max_seeds` first pool seeds (on every pool seed, 0, where it is the reference itself on
        the one task), and whether it trained on all; empty without a pool."""
        if not self.config.pooled:
            return {}
        seeds = tuple(range(self.config.max_seeds))
        out = {name: ({s: 0.0 for s in range(self.config.seed_pool)}, True)
               for name, p in calibrated.items() if [str(p)] == list(references)}
        jobs = [Job(i, str(calibrated[name]), self.paired_scoring(seeds, [math.inf] * len(
            self.config.tasks))) for i, name in enumerate(n for n in calibrated if n not in out)]
        self.pool.submit(jobs)
        done = self.collect(jobs, None)
        names = [n for n in calibrated if n not in out]
        for job, name in zip(jobs, names):
            result = done[job.id]
            out[name] = (dict(zip(seeds, result.per_seed)), result.status == Status.OK)
        return out

    def load(self) -> None:
        """Rebuild the cache, population, best, pending children and promotions from the
        journal."""
        searched = self.store.evaluations(EvalKind.SEARCH)
        evaluated = {e.program: e.fitness for e in searched}
        for kind in (EvalKind.SEED, EvalKind.CALIBRATION):
            evaluated.update({e.program: e.fitness for e in self.store.evaluations(kind)})
        fingerprints = {}
        for pid, dataflow, fingerprint in self.store.program_keys():
            if pid in evaluated:
                self.cache.add_keys((dataflow, fingerprint), evaluated[pid])
            fingerprints[pid] = fingerprint
        if self.instances is not None:
            self.paired = tuple(tuple(r) for r in self.store.value("paired_references"))
            for kind in (EvalKind.REFERENCE, EvalKind.SEED, EvalKind.SEARCH):
                for e in searched if kind == EvalKind.SEARCH else self.store.evaluations(kind):
                    if e.per_seed is not None or (kind == EvalKind.SEARCH and not e.cached):
                        scores = e.seed_scores()
                        self.instances.add(fingerprints[e.program], e.program, scores,
                                           scores.values(), e.status == Status.OK)
                    elif kind == EvalKind.SEARCH:
                        self.instances.join(fingerprints[e.program], e.program)
            self.instances.reevaluations = 0     # counted from this session on
        after = self.store.value("restart_after", 0)
        recent = [e for e in searched if e.id > after]
        members = [Member(e.program, parse_program(self.store.program(e.program).text),
                          e.fitness) for e in recent[-self.config.population:]]
        self.trained = self.store.count(EvalKind.SEARCH, cached=False)
        self.search_seconds = math.fsum(e.seconds for e in searched)
        self.search_flops = sum(estimated_flops(self.config.tasks, len(json.loads(e.seeds)))
                                for e in searched if not e.cached)
        best = None
        top = self.store.best(1)
        if top:
            row, evaluation = top[0]
            best = Member(row.id, parse_program(row.text), evaluation.fitness)
        for row in self.store.pending():
            program, keys = parse_program(row.text), (row.hash, row.fingerprint)
            # (a record that has them by now: the epoch's seeds again, which train alike)
            seeds = (self.instances.new_seeds(keys[1], self.trained)
                     or self.instances.epoch_seeds(self.trained)) \
                if self.instances is not None else ()
            self.pending[row.id] = Pending(program, row.parent, row.mutation, keys, seeds)
        self.seeds = self.store.value("seeds", [])
        references = self.store.value("references")
        self.references = tuple(r["fitness"] for r in references) if references else None
        promoted_best = self.promotion.resume()
        seeds = [Member(s["id"], parse_program(self.store.program(s["id"]).text), s["fitness"])
                 for s in self.seeds]
        self.population.resume(members, best, promoted_best, seeds, bool(after))
        self.metaval.resume()
        saved = checkpoint.load(self.store) if self.deterministic else None
        if saved is not None:
            checkpoint.restore(self.population, saved)
            self.generation, self.misses = saved.generation, saved.misses

    # ------------------------------------------------------------------------ the search

    def propose(self) -> Job | None:
        """Journal one new child; a cache hit joins the population at once (returns None).
        With a seed pool, a child equivalent to a program with fewer than `max_seeds` training
        seeds is no cache hit: it trains on seeds that program has not seen."""
        parent = self.population.select_parent()
        child = self.reevaluation(parent) or mutate(
            parent.program, self.rng, self.config.mutation_weights, self.limits)
        keys = self.cache.keys(child.program)
        if any(keys[1] == p.keys[1] for p in self.pending.values()):
            return None
        # A program equivalent to an evaluated one passed the lr check then: check only the new.
        if not self.config.allow_lr_free and not self.cache.contains(keys) \
                and not grows_with_lr(child.program):
            return None
        known, seeds = self.cache.lookup_keys(keys), ()
        if self.instances is not None:
            seeds = self.instances.new_seeds(keys[1], self.trained)
            known = None if seeds else self.instances.record(keys[1]).fitness
        pid = self.store.add_program(str(child.program), keys, parent.id,
                                     f"{child.kind}: {child.detail}", "child")
        if known is not None:
            self.store.add_evaluation(
                pid, kind=EvalKind.SEARCH, fitness=known,
                status=Status.OK if math.isfinite(known) else Status.DIVERGED, cached=True,
                task=self.config.task, seeds=self.config.seeds, seconds=0.0, worker="cache")
            if self.instances is not None:
                self.instances.join(keys[1], pid)
            self.admit(Member(pid, child.program, known))
            return None
        self.pending[pid] = Pending(child.program, parent.id, child.kind, keys, seeds)
        return self.job(pid)

    def reevaluation(self, parent: Member) -> Mutation | None:
        """With a seed pool and `reevaluate_parents`, a parent not yet trained on the epoch's
        seeds (and with fewer than `max_seeds`) is, before it has a child: the programs that
        survive and are selected are measured on one more training run each epoch."""
        if self.instances is None or not self.config.reevaluate_parents:
            return None
        key = self.cache.keys(parent.program)[1]
        if self.instances.record(key) is None or not self.instances.new_seeds(key, self.trained):
            return None
        return Mutation(parent.program, REEVALUATION, f"#{parent.id} on the epoch's seeds")

    def job(self, pid: int) -> Job:
        """The training job of pending child `pid`."""
        pending = self.pending[pid]
        scoring = self.paired_scoring(pending.seeds) if pending.seeds else self.scoring
        return Job(pid, str(pending.program), scoring)

    def admit(self, member: Member) -> None:
        """Add an evaluated child to the population; the observer hears of a new best."""
        if self.population.admit(member):
            self.observer.new_best(member, self.stats())

    def take(self, done: Done) -> None:
        """Journal a finished job: a child's evaluation, a meta-validation or a promotion."""
        if done.id in self.pending:
            pending = self.pending[done.id]
            self.search_flops += estimated_flops(self.config.tasks,
                                                 len(pending.seeds or self.config.seeds))
            self.record(done)
        elif self.metaval.owns(done.id):
            self.metaval.record(done)
        elif self.promotion.owns(done.id):
            grown, round_done = self.promotion.record(done)
            self.submit(grown)
            for promoted in round_done:
                if promoted.new_best and self.population.promote(
                        promoted.member, self.config.promoted_seed == "join"):
                    self.observer.new_best(promoted.member, self.stats())
                self.observer.promoted(*promoted)
            if round_done:
                self.observer.transfer(journal_transfer(self.store, self.trained))
        elif self.held_back.owns(done.id):
            check = self.held_back.record(done)
            if check is not None:
                self.observer.held_back(check)

    def record(self, done: Done) -> None:
        """Journal a child's training; with a seed pool its fitness is the mean over all the
        seeds its program's equivalents trained on, and they all take it."""
        pending = self.pending.pop(done.id)
        fitness, per_seed = done.fitness, None
        if self.instances is not None:
            ok = done.status == Status.OK
            record = self.instances.add(pending.keys[1], done.id, pending.seeds, done.per_seed,
                                        ok)
            fitness = record.fitness
            per_seed = dict(zip(pending.seeds, done.per_seed)) if ok else None
            self.population.rescore(record.members, fitness)
        self.store.add_evaluation(done.id, kind=EvalKind.SEARCH, fitness=fitness,
                                  status=done.status, task=self.config.task,
                                  seeds=pending.seeds or self.config.seeds, seconds=done.seconds,
                                  worker=done.worker, per_seed=per_seed)
        self.cache.add_keys(pending.keys, fitness)
        self.trained += 1
        self.search_seconds += done.seconds
        self.session_trained += 1
        if self.session_trained == 1:
            self.journal_startup()
        self.admit(Member(done.id, pending.program, fitness))
        if self.trained % HALL_OF_FAME_EVERY == 0:
            write_hall_of_fame(self.store)
        self.submit(self.metaval.start(self.population.best, self.trained))
        self.submit(self.promotion.start(self.trained, self.search_work()))
        self.maybe_restart()

    def submit(self, jobs: list[Job]) -> bool:
        """Send the workers the jobs a collaborator asked for (a deterministic search queues
        them for its next generation); whether there were any."""
        if self.deterministic:
            self.queued += jobs
        elif jobs:
            self.pool.submit(jobs)
        return bool(jobs)

    def search_work(self) -> float:
        """The work the children's trainings took, as promotion's share counts it: the
        workers' seconds, or in a deterministic search their estimated flops."""
        return self.search_flops if self.deterministic else self.search_seconds

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
                     seed_fitness, self.references is not None,
                     self.instances.reevaluations if self.instances is not None else 0)

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
        ``stop()`` is true (checked at least every second; work in flight is dropped, and a
        resumed run trains it again; a deterministic search drops all it did since its last
        checkpoint). The workers are stopped at the end."""
        self.observer.seeds(self.seeds)
        self.scoring = Scoring(self.config.tasks, self.hurdles(), self.references)
        try:
            pool = self.workers()
            self.started = time.perf_counter()
            deadline = math.inf if time_limit is None else time.monotonic() + time_limit
            if self.deterministic:
                self.run_generations(deadline, stop)
            else:
                self.run_async(pool, deadline, stop)
        finally:
            self.close()
            write_hall_of_fame(self.store)
        return self.stats()

    def run_async(self, pool, deadline: float, stop: Callable[[], bool]) -> None:
        """The asynchronous search: propose while the workers have room, file results as they
        arrive."""
        pool.submit([self.job(pid) for pid in self.pending])
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
            if not (self.pending or self.metaval.in_flight or self.promotion.in_flight
                    or self.held_back.in_flight):
                # The budget or time is spent: one last round promotes the best programs
                # found, then the held-back check retrains them on seeds never searched.
                if (open_slots <= 0 or time.monotonic() >= deadline) and (
                        self.submit(self.promotion.start(self.trained, self.search_work(),
                                                         final=True))
                        or self.submit(self.held_back.start())):
                    continue
                if open_slots > 0 and time.monotonic() < deadline:
                    if misses < STALL_AFTER:
                        continue    # every child of this pass was one seen before
                    self.stalled = True
                break
            for done in pool.wait(timeout=1.0 if self.session_trained else 0.1):
                self.take(done)
            self.observer.update(self.stats())

    # ------------------------------------------------------------ the deterministic search

    def run_generations(self, deadline: float, stop: Callable[[], bool]) -> None:
        """The deterministic search (see the module's docstring): generation after generation
        until none is left to run; writes are held between checkpoints, and when `stop()`
        ends it they are dropped (the journal is left at its last checkpoint)."""
        self.queued = [self.job(pid) for pid in self.pending]   # children a journal left pending
        self.store.hold()
        finished = False
        try:
            while (jobs := self.next_generation(deadline)) is not None:
                if not self.train_generation(jobs, stop):
                    return
                self.generation += 1
                if self.quiet():
                    self.checkpoint()
            finished = True
        finally:
            self.store.release(keep=finished)
            if not finished:
                self.trained = self.store.count(EvalKind.SEARCH, cached=False)

    def next_generation(self, deadline: float) -> list[Job] | None:
        """The jobs of the next generation, each sent to the workers at once: first those the
        collaborators asked for while the last one was filed, then (while the budget lasts and
        the time limit has not passed when it begins) up to `generation` children proposed
        with the random stream seeded from (rng_seed, generation), fewer where MISSES_PER_PASS
        children in a row train nothing. Once the budget or time is spent and nothing is
        queued: the final promotion round, then the held-back check. None when the search is
        over (done, or stalled: STALL_AFTER children in a row trained nothing)."""
        fresh = np.random.default_rng([self.config.rng_seed, self.generation])
        self.rng.bit_generator.state = fresh.bit_generator.state   # shared with the population
        jobs, self.queued = self.queued, []
        self.pool.submit(jobs)
        open_slots = self.config.budget - self.trained - len(self.pending)
        searching = open_slots > 0 and time.monotonic() < deadline
        children = misses = 0
        while searching and children < min(self.config.generation, open_slots) \
                and misses < MISSES_PER_PASS:
            job = self.propose()
            if job is None:
                self.misses, misses = self.misses + 1, misses + 1
                continue
            self.misses = 0
            self.pool.submit([job])
            jobs.append(job)
            children += 1
        if jobs:
            return jobs
        if not searching:
            # The budget or time is spent: one last round promotes the best programs found,
            # then the held-back check retrains them on seeds never searched.
            last = self.promotion.start(self.trained, self.search_work(), final=True) \
                or self.held_back.start()
            self.pool.submit(last)
            return last or None
        if self.misses < STALL_AFTER:
            return []       # every child of this generation was one seen before
        self.stalled = True
        return None

    def train_generation(self, jobs: Sequence[Job], stop: Callable[[], bool]) -> bool:
        """Wait for a generation's jobs and file each result in the order its job was sent,
        as soon as those before it are in (the observer hears after each batch); False if
        `stop()` asked to stop first (checked at least every second)."""
        results: dict[int, Done] = {}
        filed = 0
        while filed < len(jobs):
            if stop():
                return False
            if not self.session_trained:
                self.waiting(self.pool.starting() or TRAINING)
            for done in self.pool.wait(timeout=1.0 if self.session_trained else 0.1):
                results[done.id] = done
            while filed < len(jobs) and jobs[filed].id in results:
                self.take(results.pop(jobs[filed].id))
                filed += 1
            self.observer.update(self.stats())
        return True

    def quiet(self) -> bool:
        """Whether nothing is in flight or queued (a checkpoint may be taken)."""
        return not (self.queued or self.pending or self.metaval.in_flight
                    or self.promotion.in_flight or self.held_back.in_flight)

    def checkpoint(self) -> None:
        """Journal the checkpoint (`search.checkpoint`) and commit everything held since the
        last one."""
        checkpoint.journal(self.store, checkpoint.take(self.population, self.generation,
                                                        self.misses))
        self.store.release()
        self.store.hold()
