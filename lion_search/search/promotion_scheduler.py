"""When the search promotes (see promotion): every `every` trained evaluations, while promotion
has used at most its share of the workers' training time, a round promotes the top
`promote_top` distinct programs not promoted yet; the `final` round, when the budget is spent,
comes whatever the cadence and share, so that the run's best programs are promoted. The first
round sweeps the seed program on each promotion task instead (its best factor there is the
task's centre for every candidate, and its loss what they are scored against). A round's
trainings are jobs for the workers like the children (the search goes on meanwhile). AdamW,
the reference, is tuned on the promotion tasks (`promotion.tune_references`; the tuning studies
keep it, so it is trained once per tasks, seeds and code) on a thread of its own that starts
with the search, so that the workers never wait for it; a round that comes due before it is
done starts as soon as it is (the final round waits for it), and it is journaled with both
sides' budgets. This module files the rounds' results in the journal and says which
promoted program is the new best.

With a screen (`EvolveConfig.screening`), a round first trains its `screen_top` candidates on
the screen tasks through the same protocol (the seed's sweep there gives those tasks' centres
too), scored by the mean over the screen tasks of the log ratio to the seed's loss; the best
`promote_top` of them by that score are promoted. Among a search's own leaders the proxy they
were chosen on ranks them no better than chance (BENCHMARKS section 28), while cheap tasks they
were not chosen on can. The screened programs are journaled (kind 'screened', the score) with
the round's promotions, so that none is screened again.

A deterministic search (`EvolveConfig.reproducible`) decides nothing by the clock: promotion's
share is counted in the trainings' estimated flops (`jobs.estimated_flops`) rather than the
workers' seconds, and a round that comes due before AdamW is tuned waits for the tuning."""
from __future__ import annotations

import enum
import itertools
import math
import threading
from concurrent.futures import Future
from typing import Callable, NamedTuple

from lion_search.analysis.dedup import (
    DedupCache,
    dataflow_hash,
    score_keys,
    tasks_runs,
    training_keys,
)
from lion_search.evaluation.results import Status
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs import journal_twins
from lion_search.runs.journal import EvalKind, RunStore
from lion_search.search.config import EvolveConfig
from lion_search.search.jobs import Done, Job, Scoring, estimated_flops
from lion_search.search.promotion import (
    CENTRE_GRID,
    Promotion,
    PromotionRound,
    TaskScore,
    Trial,
    budgets,
    tune_references,
)
from lion_search.search.records import Member
from lion_search.simplify.rules import rewrite


class Promoted(NamedTuple):
    """A program of a finished round: its promotion, itself as a member (its rewrite, with its
    proxy fitness), whether its score is the best promoted so far, and its screen score (None
    without a screen)."""

    promotion: Promotion
    member: Member
    new_best: bool
    screen: float | None = None


class Stage(enum.Enum):
    """What the round in flight trains."""

    CENTRES = "the seed's sweep, for each task's centre"
    SCREEN = "the candidates on the screen tasks"
    PROMOTION = "the picks on the promotion tasks"


def proxy_fitness(store: RunStore, program_id: int) -> float:
    """A journaled program's best proxy fitness."""
    return store.best_fitness([program_id]).get(program_id, math.inf)


class PromotionScheduler:
    """Promotion rounds of a search over `store`, with the search's dedup `cache` (for the
    programs it journals). A program equivalent to one promoted before on the promotion tasks
    is not promoted again: same data-flow hash, or same fingerprint over those tasks' tensors at
    their lengths (`promotion_keys`), so that programs that differ only in a static branch no
    promotion task takes (rank >= 3 on language models, say, or T >= 1000) are promoted once;
    nor is one that trained to the same loss on one of the proxy's runs (`dedup.score_keys`)."""

    def __init__(self, store: RunStore, config: EvolveConfig, cache: DedupCache,
                 eligible: Callable[[str], bool] = lambda fingerprint: True):
        self.store = store
        self.config = config
        self.cache = cache
        self.eligible = eligible      # whether programs of a fingerprint may be promoted
        self.promoted_keys: set[str] = set()       # promotion keys of the programs promoted
        self.picked: list[int] = []                # their ids (and the seed's)
        self.runs: tuple | None = None             # fingerprint runs of the tasks' tensors
        self.references: tuple[float, ...] | None = None   # tuned AdamW's loss on each task
        self.round: PromotionRound | None = None   # the round in flight
        self.stage = Stage.PROMOTION               # what it trains
        self.screened: dict[int, float] = {}       # the screen's scores, until the round ends
        self.jobs: dict[int, Trial] = {}           # its unfinished jobs, by job id
        self.deterministic = config.reproducible   # work in flops, not seconds; no deferring
        # The work spent promoting: the workers' training seconds, or (deterministic) the
        # trainings' estimated flops; journaled under this key.
        self.work = 0.0
        self.work_key = "promotion_flops" if self.deterministic else "promotion_seconds"
        self.job_ids = itertools.count(-2, -1)     # ids of jobs that are not journaled children
        self.rewritten: dict[int, Program] = {}    # program id -> its exact rewrite
        self.tuning: Future | None = None          # AdamW's tuning on its thread, until journaled
        self.deferred = False                      # a round came due while AdamW was tuned
        self.centres: tuple[TaskScore, ...] | None = None   # the seed's best factor and loss
        self.screen_centres: tuple[TaskScore, ...] = ()     # the same on the screen tasks
        self.final_started = False                 # the final round has been started

    @property
    def in_flight(self) -> bool:
        return bool(self.jobs)

    def owns(self, job_id: int) -> bool:
        """Whether a finished job is one of the round in flight."""
        return job_id in self.jobs

    def resume(self) -> Member | None:
        """Take up the journal's promotions (the programs promoted, AdamW's losses, the time
        spent); the best promoted program so far, as a member with its proxy fitness."""
        self.work = self.store.value(self.work_key, 0.0)
        references = self.store.value("promotion_references")
        self.references = tuple(r["fitness"] for r in references) if references else None
        centres = self.store.value("promotion_centres")
        self.centres = tuple(TaskScore(**c) for c in centres) if centres else None
        self.screen_centres = tuple(TaskScore(**c) for c in self.store.value("screen_centres",
                                                                              []))
        if self.references is None and self.config.promotion[1]:
            self.tuning = tune_in_background(self.config.promotion[0],
                                             self.config.promote_seeds,
                                             self.config.promote_trials)
        for kind in (EvalKind.PROMOTED, EvalKind.SCREENED):
            for e in self.store.evaluations(kind):
                self.promoted_keys.update(self.promotion_keys(self.rewrite(e.program)))
                self.picked.append(e.program)
        top = self.store.best(1, EvalKind.PROMOTED)
        if not top:
            return None
        row, _ = top[0]
        return Member(row.id, parse_program(row.text), proxy_fitness(self.store, row.id))

    def rewrite(self, program_id: int) -> Program:
        """A journaled program after exact rewriting (cached by id)."""
        if program_id not in self.rewritten:
            program = parse_program(self.store.program(program_id).text)
            self.rewritten[program_id] = rewrite(program)[0]
        return self.rewritten[program_id]

    def promotion_keys(self, program: Program) -> tuple[str, str, str]:
        """(data-flow hash, `dedup.training_keys` over the promotion tasks' tensors, each at
        its task's length T (`dedup.tasks_runs`)) of `program`: programs with an equal key
        train alike on every promotion task."""
        if self.runs is None:
            self.runs = tasks_runs(self.config.promotion[0])
        return (dataflow_hash(program), *training_keys(program, self.runs))

    def start(self, trained: int, search_work: float, final: bool = False) -> list[Job]:
        """The jobs of a new round, if one is due after `trained` evaluations of the search
        (which took the workers `search_work`: seconds, or estimated flops when deterministic);
        none if not, or if no program is left to promote. The first round sweeps the seed
        program (`centres`); the candidates' rounds follow on the cadence."""
        tasks, every = self.config.promotion
        share = self.work / max(search_work + self.work, 1e-9)
        if not every or self.round is not None or final and self.final_started or not (
                final or self.deferred) and (trained % every or share > self.config.promote_share):
            return []
        if self.references is None and not self.references_ready(
                wait=final or self.deterministic):
            self.deferred = True      # the round starts once AdamW's tuning is done
            return []
        self.deferred = False
        if self.centres is None:
            seed = self.store.value("seeds")[0]["id"]
            swept = tasks + self.config.screening
            self.stage = Stage.CENTRES
            self.round = PromotionRound([(seed, self.rewrite(seed))], swept,
                                        {task: CENTRE_GRID for task in swept},
                                        self.config.promote_score)
            return self.jobs_for(self.round.trials())
        screen = bool(self.screen_centres) and all(math.isfinite(c.loss)
                                                   for c in self.screen_centres)
        picks = self.candidates(self.config.screen_top if screen else self.config.promote_top)
        if not picks:
            return []
        self.final_started = final
        if len(picks) > self.config.promote_top:
            return self.start_stage(Stage.SCREEN, picks, self.screen_centres, "mean")
        return self.start_stage(Stage.PROMOTION, picks, self.centres, self.config.promote_score)

    def start_stage(self, stage: Stage, picks: list[tuple[int, Program]],
                    centres: tuple[TaskScore, ...], rule: str) -> list[Job]:
        """The jobs of a round of `picks` on the tasks of `centres`, each swept around its
        centre."""
        grids = {c.task: tuple(c.lr_factor * f for f in self.config.promote_grid)
                 for c in centres}
        self.stage = stage
        self.round = PromotionRound(picks, tuple(grids), grids, rule,
                                    growth=self.config.promote_growth)
        return self.jobs_for(self.round.trials())

    def jobs_for(self, trials: list[tuple[Trial, Program]]) -> list[Job]:
        """The workers' jobs of a round's trainings (on the promotion seeds)."""
        jobs = []
        for trial, program in trials:
            job = Job(next(self.job_ids), str(program),
                      Scoring((trial.task,), (math.inf,), None, self.config.promote_seeds))
            self.jobs[job.id] = trial
            jobs.append(job)
        return jobs

    def references_ready(self, wait: bool) -> bool:
        """Whether AdamW's tuning is done (waiting for it when `wait`); once it is, journal it
        (kind 'promotion-reference') with each side's budget ('promotion_budget')."""
        tasks, _ = self.config.promotion
        if self.tuning is None:
            self.tuning = tune_in_background(tasks, self.config.promote_seeds,
                                             self.config.promote_trials)
        if not (wait or self.tuning.done()):
            return False
        records = []
        for task, tuned in zip(tasks, self.tuning.result()):
            pid = self.store.add_program(str(tuned.program), self.cache.keys(tuned.program),
                                         None, f"reference on {task}: adamw tuned, lr "
                                         f"{tuned.lr:.3g}", "reference")
            self.store.add_evaluation(pid, kind=EvalKind.PROMOTION_REFERENCE,
                                      fitness=tuned.fitness,
                                      status=tuned.comparison.result.status, task=task,
                                      seeds=self.config.promote_seeds, seconds=0.0,
                                      worker="tuning")
            records.append({"task": task, "id": pid, "lr": tuned.lr, "fitness": tuned.fitness,
                            "hyperparameters": tuned.values, "budget": tuned.budget.to_json()})
        self.store.set_value("promotion_references", records)
        self.store.set_value("promotion_budget", budgets(
            self.config.promote_trials, self.config.promote_grid,
            len(self.config.promote_seeds)))
        self.references = tuple(r["fitness"] for r in records)
        self.tuning = None
        return True

    def candidates(self, most: int) -> list[tuple[int, Program]]:
        """The best `eligible` programs by proxy fitness whose rewrite is not equivalent to one
        promoted, screened (or picked) before, up to `most` of them; nor one that trained to
        the same loss as one of those on one of the proxy's runs (`dedup.score_keys`: read
        afresh, as the programs gain seeds)."""
        picks: list[tuple[int, Program]] = []
        rows = [row for row, _ in self.store.best(20 * most) if self.eligible(row.fingerprint)]
        scores = journal_twins.trained_scores(self.store, self.picked + [row.id for row in rows])
        taken = self.promoted_keys.union(*(score_keys(scores.get(pid, {}))
                                           for pid in self.picked))
        for row in rows:
            program = self.rewrite(row.id)
            keys = self.promotion_keys(program)
            every = {*keys, *score_keys(scores.get(row.id, {}))}
            if taken & every:
                continue
            taken |= every
            self.promoted_keys.update(keys)
            self.picked.append(row.id)
            picks.append((row.id, program))
            if len(picks) == most:
                break
        return picks

    def record(self, done: Done) -> tuple[list[Job], list[Promoted]]:
        """File a finished training of the round: the jobs that extend its sweep, and once all
        are in, the round's programs in order, journaled (none before)."""
        trial = self.jobs.pop(done.id)
        grown = self.jobs_for(self.round.file(trial, done.per_task[0]))
        self.work += estimated_flops((trial.task,), len(self.config.promote_seeds)) \
            if self.deterministic else done.seconds
        if grown or not self.round.finished:
            return grown, []
        self.store.set_value(self.work_key, self.work)
        round_, self.round = self.round, None
        if self.stage is Stage.CENTRES:
            return [], [self.centre(round_)]
        if self.stage is Stage.SCREEN:
            return self.start_stage(Stage.PROMOTION, self.screen(round_), self.centres,
                                    self.config.promote_score), []
        promotions = round_.scores([c.loss for c in self.centres])
        best_score = self.store.best(1, EvalKind.PROMOTED)
        best_score = best_score[0][1].fitness if best_score else math.inf
        out = []
        for p in promotions:
            member = self.journal(p)
            new_best = p.score < best_score
            if new_best:
                best_score = p.score
            out.append(Promoted(p, member, new_best, self.screened.get(p.program_id)))
        self.journal_screen()
        return [], out

    def screen(self, round_: PromotionRound) -> list[tuple[int, Program]]:
        """The screen's best `promote_top` picks (by score, then proxy fitness), keeping every
        pick's score to journal at the round's end."""
        scores = round_.scores([c.loss for c in self.screen_centres])
        self.screened = {s.program_id: s.score for s in scores}
        order = sorted(range(len(scores)), key=lambda i: scores[i].score)
        kept = sorted(order[:self.config.promote_top])
        return [round_.picks[i] for i in kept]

    def journal_screen(self) -> None:
        """Journal the screen's scores (kind 'screened': promoted or not, none is screened
        again)."""
        for pid, score in self.screened.items():
            self.store.add_evaluation(
                pid, kind=EvalKind.SCREENED, fitness=score,
                status=Status.OK if math.isfinite(score) else Status.FAILED,
                task=",".join(self.config.screening), seeds=self.config.promote_seeds,
                seconds=0.0, worker="promotion")
        self.screened = {}

    def centre(self, round_: PromotionRound) -> Promoted:
        """Journal the seed program's sweep (its promotion, score 0: what the candidates are
        scored against) and each task's centre: its best factor there, and its loss (where it
        failed at every factor, factor 1 and tuned AdamW's loss); the screen tasks' alike (where
        it failed, no screen)."""
        seed, = round_.scores([1.0] * len(round_.tasks))
        tasks = len(self.references)      # the promotion tasks; the screen's follow them
        self.centres = tuple(
            t if math.isfinite(t.loss) else TaskScore(t.task, 1.0, reference)
            for t, reference in zip(seed.per_task, self.references))
        self.screen_centres = seed.per_task[tasks:]
        seed = seed._replace(per_task=seed.per_task[:tasks])
        self.store.set_value("promotion_centres", [c._asdict() for c in self.centres])
        self.store.set_value("screen_centres", [c._asdict() for c in self.screen_centres])
        self.promoted_keys.update(self.promotion_keys(self.rewrite(seed.program_id)))
        self.picked.append(seed.program_id)
        member = self.journal(seed._replace(score=0.0))
        return Promoted(seed._replace(score=0.0), member, False)

    def journal(self, p: Promotion) -> Member:
        """Journal a promotion (a `promotion` row per task, a `promoted` row with the score);
        the program as a member, with its proxy fitness."""
        tasks, _ = self.config.promotion
        for t in p.per_task:
            self.store.add_evaluation(
                p.program_id, kind=EvalKind.PROMOTION, fitness=t.loss,
                status=Status.OK if math.isfinite(t.loss) else Status.FAILED, task=t.task,
                seeds=self.config.promote_seeds, seconds=0.0, worker="promotion",
                lr_factor=t.lr_factor if math.isfinite(t.lr_factor) else None)
        self.store.add_evaluation(
            p.program_id, kind=EvalKind.PROMOTED, fitness=p.score,
            status=Status.OK if math.isfinite(p.score) else Status.FAILED,
            task=",".join(tasks), seeds=self.config.promote_seeds, seconds=p.seconds,
            worker="promotion")
        return Member(p.program_id, self.rewrite(p.program_id),
                      proxy_fitness(self.store, p.program_id))


def tune_in_background(tasks: tuple[str, ...], seeds: tuple[int, ...], trials: int) -> Future:
    """`promotion.tune_references` on a daemon thread (an interrupted search does not wait for
    it; the tuning studies keep the trials it finished)."""
    future: Future = Future()

    def work() -> None:
        try:
            future.set_result(tune_references(tasks, seeds, trials))
        except BaseException as err:  # noqa: BLE001 - handed to the search, which raises it
            future.set_exception(err)

    threading.Thread(target=work, name="lion-search-reference-tuning", daemon=True).start()
    return future
