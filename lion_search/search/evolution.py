"""`Search`: regularized evolution over a run journal: set up (calibrate the seeds) or resume,
then propose children and file their results. It holds its collaborators: the islands (parents,
the best), their renewal (restarts, migrations), meta-validation and the promotion scheduler,
each passed what it needs; the search submits the jobs they ask for and hands each finished job
to its owner.

A search is asynchronous (a child is proposed whenever the workers have room, and results are
filed as they arrive, so what is proposed depends on when they come back) or deterministic
(`EvolveConfig.reproducible`: in generations, `search.generations`, so that the same settings
give the same journal, resumed or not)."""
from __future__ import annotations

import json
import math
import time
from concurrent.futures import Future
from typing import Callable, NamedTuple, Sequence

import numpy as np

from lion_search.analysis.dedup import DedupCache, equivalence_runs
from lion_search.analysis.lr_check import grows_with_lr
from lion_search.evaluation.results import Status
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.language.validate import Limits, fitting
from lion_search.runs import journal_proposals, journal_twins
from lion_search.runs.hall_of_fame import write_hall_of_fame
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.runs.references import load_program
from lion_search.runs.transfer import journal_transfer
from lion_search.search import calibration, checkpoint, generations, instances, retraining
from lion_search.search.config import EvolveConfig
from lion_search.search.generations import Generations
from lion_search.search.held_back import HeldBackCheck
from lion_search.search.islands import Islands, journal_members
from lion_search.search.jobs import STARTING, Done, Job, Scoring, estimated_flops
from lion_search.search.metavalidation import MetaValidation
from lion_search.search.mutate import Mutation, mutate_anew
from lion_search.search.observer import CALIBRATING, TRAINING, Observer, QuietObserver
from lion_search.search.pools import start_pool, stop_pool
from lion_search.search.population import RestartSource
from lion_search.search.promotion_scheduler import PromotionScheduler
from lion_search.search.ray_pool import RayPool
from lion_search.search.records import Member, Stats
from lion_search.search.renewal import Renewal, journaled_restart

HALL_OF_FAME_EVERY = 50  # trained evaluations between rewrites of RUN/hall_of_fame.csv


class Pending(NamedTuple):
    """A child journaled and sent to train: its program, parent, mutation kind, dedup keys,
    training seeds (empty: the run's `seeds`, without a seed pool) and island."""

    program: Program
    parent: int | None
    kind: str
    keys: tuple[str, str]
    seeds: tuple[int, ...] = ()
    island: int = 0


class Search:
    """One search over a run journal: set up (calibrate the seeds) or resume, then evolve.

    `pool` is the future of a pool started for it (`start_pool`; default: one started when first
    needed); `started`, the time.time() the command started at (default: now), times start-up."""

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
        self.cache = DedupCache(runs=equivalence_runs(config.equivalence, config.trained_on))
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
        self.generations = Generations(self)      # a deterministic search's loop
        self.stalled = False           # whether `run` gave up: STALL_AFTER children seen before
        self.rng = np.random.default_rng([config.rng_seed, store.count()])
        self.instances = instances.from_config(config)
        self.population = Islands(config.islands, config.population, config.tournament,
                                  self.rng)
        self.retraining = retraining.Retraining(config, self.instances, self.fingerprint)
        self.island_of: dict[int, int] = {}   # each child's island, by journal id
        self.equivalents = 0    # mutants equivalent to a program seen, mutated again (session)
        self.renewal = Renewal(store, config, self.population, self.fingerprint)
        self.metaval = MetaValidation(store, *config.metaval, config.seeds, self.observer)
        self.promotion = PromotionScheduler(store, config, self.cache, self.retraining.confirmed)
        self.held_back = HeldBackCheck(store, config, self.retraining.confirmed)
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

    def setup(self) -> None:
        """Calibrate the reference and the seeds on the workers, and journal them
        (`calibration.set_up`)."""
        self.references, self.paired = calibration.set_up(self.store, self.config,
                                                             self.cache, self.calibrate)

    def calibrate(self, jobs: Sequence[Job], once_compiled: Callable[[], object] | None
                  ) -> dict[int, Done]:
        """Train set-up's jobs on the workers (started now if need be): their results."""
        self.workers().submit(jobs)
        self.waiting(self.pool.starting() or CALIBRATING)
        return self.collect(jobs, once_compiled)

    def load(self) -> None:
        """Rebuild from the journal the cache, population, best, pending and promotions."""
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
                                           scores.values(), e.status == Status.OK, rank=False,
                                           repeat=e.lr_factor is not None)
                    elif kind == EvalKind.SEARCH:
                        self.instances.join(fingerprints[e.program], e.program)
            self.instances.rerank()
            self.instances.reevaluations = 0     # counted from this session on
        restart = journaled_restart(self.store, self.config)
        self.island_of = journal_proposals.islands(self.store)
        members = journal_members(self.store, self.config, searched, self.island_of,
                                  restart["after"] if restart else 0)
        self.trained = self.store.count(EvalKind.SEARCH, cached=False)
        self.search_seconds = math.fsum(e.seconds for e in searched)
        self.search_flops = sum(estimated_flops(self.config.tasks, len(json.loads(e.seeds)),
                                                e.status) for e in searched if not e.cached)
        best = None
        top = self.store.best(1)
        if top:
            row, evaluation = top[0]
            best = Member(row.id, parse_program(row.text), evaluation.fitness)
        for row in self.store.pending():
            program, keys = parse_program(row.text), (row.hash, row.fingerprint)
            # (a record that has them by now: the epoch's seeds again, which train alike)
            seeds = (self.retraining.seeds(row.mutation, keys[1], self.trained)
                     or self.instances.epoch_seeds(self.trained)) \
                if self.instances is not None else ()
            self.pending[row.id] = Pending(program, row.parent, row.mutation, keys, seeds,
                                           self.island_of.get(row.id, 0))
        self.seeds = self.store.value("seeds", [])
        references = self.store.value("references")
        self.references = tuple(r["fitness"] for r in references) if references else None
        promoted_best = self.promotion.resume()
        seeds = [Member(s["id"], parse_program(self.store.program(s["id"]).text), s["fitness"])
                 for s in self.seeds]
        self.population.resume(members, best, promoted_best, seeds,
                               RestartSource(restart["source"]) if restart else None)
        self.metaval.resume()
        saved = checkpoint.load(self.store) if self.deterministic else None
        if saved is not None:
            self.generations.resume(saved)

    # ------------------------------------------------------------------------ the search

    def propose(self) -> Job | None:
        """Journal one new child, on the next island; a cache hit joins the population at once
        (returns None). A leader to be reproduced or short of `confirm_seeds` seeds comes
        first (`confirm`), and a parent is trained again where `Retraining.parent` says. A
        mutant equivalent to a program evaluated or pending is mutated again, up to
        `remutations` times (`mutant`). With a seed pool, a child equivalent to a program with
        fewer than `max_seeds` seeds is no cache hit: it trains on seeds that one has not."""
        island = self.population.island_of(len(self.island_of))
        if (confirmation := self.confirm(island)) is not None:
            return confirmation
        parent = self.population.select_parent(island)
        child, equivalents = self.retraining.parent(parent, self.trained), 0
        if child is None:
            child, equivalents = self.mutant(parent.program)
        keys = self.cache.keys(child.program)
        if keys[1] in self.training():
            return None
        # A program equivalent to an evaluated one passed the lr check then: check only the new.
        if not self.config.allow_lr_free and not self.cache.contains(keys) \
                and not grows_with_lr(child.program):
            return None
        known, seeds = self.cache.lookup_keys(keys), ()
        if self.instances is not None:
            seeds = self.retraining.seeds(child.kind, keys[1], self.trained)
            known = None if seeds else self.instances.record(keys[1]).fitness
        pid = self.propose_child(child, keys, parent.id, island, equivalents)
        if known is not None:
            self.store.add_evaluation(
                pid, kind=EvalKind.SEARCH, fitness=known,
                status=Status.OK if math.isfinite(known) else Status.DIVERGED, cached=True,
                task=self.config.task, seeds=self.config.seeds, seconds=0.0, worker="cache")
            if self.instances is not None:
                self.instances.join(keys[1], pid)
            self.admit(Member(pid, child.program, known), island)
            return None
        self.pending[pid] = Pending(child.program, parent.id, child.kind, keys, seeds, island)
        return self.job(pid)

    def propose_child(self, child: Mutation, keys: tuple[str, str], parent: int, island: int,
                      equivalents: int) -> int:
        """Journal a child and how it was proposed; its journal id."""
        pid = self.store.add_program(str(child.program), keys, parent,
                                     f"{child.kind}: {child.detail}", "child")
        journal_proposals.add_proposal(self.store, pid, island, equivalents,
                                       child.kind not in retraining.RETRAINED)
        self.island_of[pid] = island
        self.equivalents += equivalents
        return pid

    def confirm(self, island: int) -> Job | None:
        """Journal the reproduction or confirmation of a leader not training now
        (`Retraining.leader`) on `island`, which it joins with the fitness its seeds give; the
        job (None: no leader needs one)."""
        leader = self.retraining.leader(self.training(),
                                        lambda pid: parse_program(self.store.program(pid).text))
        if leader is None:
            return None
        child, first = leader
        keys = self.cache.keys(child.program)
        pid = self.propose_child(child, keys, first, island, 0)
        seeds = self.retraining.seeds(child.kind, keys[1], self.trained)
        self.pending[pid] = Pending(child.program, first, child.kind, keys, seeds, island)
        return self.job(pid)

    def mutant(self, program: Program) -> tuple[Mutation, int]:
        """A mutant of `program` that is no program evaluated or pending, if `remutations`
        mutations again find one (`mutate.mutate_anew`); with the equivalents passed over."""
        return mutate_anew(program, self.rng, self.config.mutation_weights, self.limits,
                           self.seen, self.config.remutations)

    def seen(self, program: Program) -> bool:
        """Whether a program equivalent to `program` was evaluated or is training."""
        keys = self.cache.keys(program)
        return self.cache.contains(keys) or keys[1] in self.training()

    def training(self) -> set[str]:
        """The fingerprints of the programs training now."""
        return {p.keys[1] for p in self.pending.values()}

    def fingerprint(self, program: Program) -> str:
        """`program`'s fingerprint (`DedupCache.keys`)."""
        return self.cache.keys(program)[1]

    def job(self, pid: int) -> Job:
        """The training job of pending child `pid`."""
        pending = self.pending[pid]
        scoring = calibration.paired_scoring(
            self.config, self.paired, pending.seeds, self.hurdles(),
            retraining.lr_scale(pending.kind)) if pending.seeds else self.scoring
        return Job(pid, str(pending.program), scoring)

    def admit(self, member: Member, island: int) -> None:
        """Add an evaluated child to its island; the observer hears of a new best (without
        promotion, a new best ends a plateau)."""
        if self.population.admit(member, island):
            if not self.config.promotion[1]:
                self.renewal.improved(self.trained)
            self.observer.new_best(member, self.stats())

    def take(self, done: Done) -> None:
        """Journal a finished job: a child's evaluation, a meta-validation or a promotion."""
        if done.id in self.pending:
            pending = self.pending[done.id]
            self.search_flops += estimated_flops(self.config.tasks,
                                                 len(pending.seeds or self.config.seeds),
                                                 done.status)
            self.record(done)
        elif self.metaval.owns(done.id):
            self.metaval.record(done)
        elif self.promotion.owns(done.id):
            grown, round_done = self.promotion.record(done)
            self.submit(grown)
            for promoted in round_done:
                if promoted.new_best:
                    self.renewal.improved(self.trained)
                    if self.population.promote(promoted.member,
                                               self.config.promoted_seed == "join",
                                               self.island_of.get(promoted.member.id, 0)):
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
        fitness, per_seed, scale = done.fitness, None, retraining.lr_scale(pending.kind)
        if self.instances is not None:
            ok = done.status == Status.OK
            record = self.instances.add(pending.keys[1], done.id, pending.seeds, done.per_seed,
                                        ok, repeat=scale != 1.0)
            journal_twins.add_twin(self.store, pending.keys[1], self.instances.twins)
            fitness = record.fitness
            per_seed = dict(zip(pending.seeds, done.per_seed)) if ok else None
            self.population.rescore(record.members, fitness)
        self.store.add_evaluation(done.id, kind=EvalKind.SEARCH, fitness=fitness,
                                  status=done.status, task=self.config.task,
                                  seeds=pending.seeds or self.config.seeds, seconds=done.seconds,
                                  worker=done.worker, per_seed=per_seed,
                                  lr_factor=scale if scale != 1.0 else None)
        self.cache.add_keys(pending.keys, fitness)
        self.trained += 1
        self.search_seconds += done.seconds
        self.session_trained += 1
        if self.session_trained == 1:
            self.journal_startup()
        self.admit(Member(done.id, pending.program, fitness), pending.island)
        if self.trained % HALL_OF_FAME_EVERY == 0:
            write_hall_of_fame(self.store)
        self.submit(self.metaval.start(self.population.best, self.trained))
        self.submit(self.promotion.start(self.trained, self.search_work()))
        self.renewal.after(self.trained)

    def submit(self, jobs: list[Job]) -> bool:
        """Send the workers the jobs a collaborator asked for (a deterministic search queues
        them for its next generation); whether there were any."""
        if self.deterministic:
            self.generations.queued += jobs
        elif jobs:
            self.pool.submit(jobs)
        return bool(jobs)

    def search_work(self) -> float:
        """The work the children's trainings took, as promotion's share counts it: the
        workers' seconds, or in a deterministic search their estimated flops."""
        return self.search_flops if self.deterministic else self.search_seconds

    def open_slots(self) -> int:
        """Children the budget still has room for, beyond those trained and in flight."""
        return self.config.budget - self.trained - len(self.pending)

    def in_flight(self) -> bool:
        """Whether a child or a collaborator's job is training."""
        return bool(self.pending) or self.collaborating()

    def collaborating(self) -> bool:
        """Whether meta-validation, promotion or the held-back check has a job training."""
        return bool(self.metaval.in_flight or self.promotion.in_flight or self.held_back.in_flight)

    def final_jobs(self) -> list[Job]:
        """Once the budget or time is spent: one last round promotes the best programs found,
        then the held-back check retrains them on seeds never searched (empty: done)."""
        return self.promotion.start(self.trained, self.search_work(), final=True) \
            or self.held_back.start()

    def stats(self) -> Stats:
        elapsed = time.perf_counter() - self.started
        seed_fitness = min((s["fitness"] for s in self.seeds), default=math.inf)
        return Stats(self.trained, self.config.budget, self.cache.hits, self.cache.lookups,
                     self.session_trained / elapsed if elapsed > 0 else 0.0, self.population.best,
                     seed_fitness, self.references is not None,
                     self.instances.reevaluations if self.instances is not None else 0,
                     self.equivalents, self.renewal.migrations)

    def hurdles(self) -> tuple[float, ...]:
        """Each task's hurdle (`calibration.hurdles`)."""
        return calibration.hurdles(self.seeds, len(self.config.tasks))

    def run(self, time_limit: float | None = None,
            stop: Callable[[], bool] = lambda: False, cpu_limit: float | None = None) -> Stats:
        """Evolve until the budget of trained evaluations is met, or the time limit passes (work
        in flight is finished), or this process's CPU time reaches `cpu_limit` seconds (as the
        time limit; `time.process_time()`: every thread of the process since it started, so
        in-process workers count and Ray actors do not), or STALL_AFTER children in a row
        were programs seen before, or ``stop()`` is true (checked at least every second; work
        in flight is dropped, and a resumed run trains it again; a deterministic search drops
        all it did since its last checkpoint). The workers are stopped at the end."""
        self.observer.seeds(self.seeds)
        self.scoring = Scoring(self.config.tasks, self.hurdles(), self.references)
        try:
            pool = self.workers()
            self.started = time.perf_counter()
            deadline = math.inf if time_limit is None else time.monotonic() + time_limit
            cpu_deadline = math.inf if cpu_limit is None else cpu_limit

            def in_time() -> bool:
                return time.monotonic() < deadline and time.process_time() < cpu_deadline

            if self.deterministic:
                self.stalled = self.generations.run(in_time, stop)
            else:
                self.run_async(pool, in_time, stop)
        finally:
            self.close()
            write_hall_of_fame(self.store)
        return self.stats()

    def run_async(self, pool, in_time: Callable[[], bool], stop: Callable[[], bool]) -> None:
        """The asynchronous search: propose while the workers have room, file results as they
        arrive."""
        pool.submit([self.job(pid) for pid in self.pending])
        misses = 0
        while not stop():
            if not self.session_trained:
                self.waiting(pool.starting() or TRAINING)
            open_slots = self.open_slots()
            pass_misses = 0
            while open_slots > 0 and pool.in_flight < pool.capacity and not stop() \
                    and in_time() and pass_misses < generations.MISSES_PER_PASS:
                job = self.propose()
                if job is None:
                    misses, pass_misses = misses + 1, pass_misses + 1
                    continue
                misses = 0
                pool.submit([job])
                open_slots -= 1
            if not self.in_flight():
                if (open_slots <= 0 or not in_time()) and self.submit(self.final_jobs()):
                    continue
                if open_slots > 0 and in_time():
                    if misses < generations.STALL_AFTER:
                        continue    # every child of this pass was one seen before
                    self.stalled = True
                break
            for done in pool.wait(timeout=1.0 if self.session_trained else 0.1):
                self.take(done)
            self.observer.update(self.stats())
