"""The search's jobs on larger tasks: meta-validation of the best program so far, and rounds
of promotion of the best distinct programs. Both are jobs for the workers like the children
(the search goes on meanwhile); this module files their results in the journal."""
from __future__ import annotations

import math

from lion_search.language.program import Program
from lion_search.search.jobs import Done, Job, Scoring
from lion_search.search.promotion import PromotionRound
from lion_search.search.records import Member


class MetavalAndPromotion:
    """Search's meta-validation and promotion methods (a mixin: they use the Search's journal,
    config, pool, cache, observer and promotion state, set up by Search.__init__)."""

    def maybe_metavalidate(self) -> None:
        """Every `every` trained evaluations, train the best-so-far program on the held-out
        larger task (kind 'metaval'), so that proxy fitness and meta-validation can be plotted
        side by side. It is a job for the workers like a child (the search goes on meanwhile);
        a round that comes while one is in flight is skipped. A best already meta-validated
        is journaled again from its result (cached), not trained again: same program, task
        and seeds give the same number."""
        task, every = self.config.metaval
        if task is None or self.best is None or self.trained % every or self.metaval_job:
            return
        if self.last_metaval is not None and self.last_metaval[0] == self.best.id:
            done = self.last_metaval[1]
            self.store.add_evaluation(self.best.id, "metaval", done.fitness, done.status, True,
                                      task, self.config.seeds, 0.0, done.worker)
            return
        self.metaval_job = (self.best, task)
        self.pool.submit([Job(self.best.id, str(self.best.program),
                              Scoring((task,), (math.inf,)))])

    def record_metaval(self, done: Done) -> None:
        """Journal a finished meta-validation."""
        (member, task), self.metaval_job = self.metaval_job, None
        self.last_metaval = (member.id, done)
        self.store.add_evaluation(member.id, "metaval", done.fitness, done.status, False,
                                  task, self.config.seeds, done.seconds, done.worker)
        self.observer.metaval(task, member, done.fitness)

    def maybe_promote(self, final: bool = False) -> bool:
        """Every `every` trained evaluations, while promotion has used at most its share of
        the training time, promote the top `promote_top` distinct programs not promoted yet
        (see promotion): their trainings are jobs for the workers, like meta-validation (the
        search goes on meanwhile); the first round also sweeps AdamW on the promotion tasks.
        The `final` round, when the budget is spent, comes whatever the cadence and share, so
        that the run's best programs are promoted. Whether a round started."""
        tasks, every = self.config.promotion
        share = self.promotion_seconds / max(self.search_seconds + self.promotion_seconds, 1e-9)
        if not every or self.promotion is not None or not final and (
                self.trained % every or share > self.config.promote_share):
            return False
        picks = self.promotion_candidates()
        if not picks:
            return False
        self.promotion = PromotionRound(
            picks, tasks, self.config.promote_grid,
            self.config.lr_grid if self.promotion_references is None else None,
            self.config.promote_score)
        jobs = []
        for trial, program in self.promotion.trials:
            job = Job(next(self.job_ids), str(program), Scoring((trial.task,), (math.inf,)))
            self.promotion_jobs[job.id] = trial
            jobs.append(job)
        self.pool.submit(jobs)
        return True

    def promotion_candidates(self) -> list[tuple[int, Program]]:
        """The best programs by proxy fitness whose rewrite is not equivalent to one promoted
        (or picked) before, up to `promote_top` of them."""
        picks: list[tuple[int, Program]] = []
        for row, _ in self.store.best(20 * self.config.promote_top):
            program = self.rewrite(row.id)
            keys = self.cache.keys(program)
            if self.promoted_keys & set(keys):
                continue
            self.promoted_keys.update(keys)
            picks.append((row.id, program))
            if len(picks) == self.config.promote_top:
                break
        return picks

    def record_promotion(self, done: Done) -> None:
        """File a finished promotion training; journal the round once all its trainings are
        in (a new promoted best may join the population)."""
        self.promotion.results[self.promotion_jobs.pop(done.id)] = done.per_task[0]
        self.promotion_seconds += done.seconds
        if not self.promotion.finished:
            return
        self.store.set_value("promotion_seconds", self.promotion_seconds)
        (tuned, promotions), self.promotion = \
            self.promotion.scores(self.promotion_references), None
        tasks, _ = self.config.promotion
        if tuned is not None:
            self.store.set_value("promotion_references", self.journal_references(
                tasks, tuned, "promotion-reference"))
            self.promotion_references = tuple(c.result.fitness for c in tuned)
        best_score = self.store.best(1, "promoted")
        best_score = best_score[0][1].fitness if best_score else math.inf
        for p in promotions:
            for t in p.per_task:
                self.store.add_evaluation(p.program_id, "promotion", t.loss,
                                          "ok" if math.isfinite(t.loss) else "failed", False,
                                          t.task, self.config.seeds, 0.0, f"lr x{t.lr_factor:g}")
            self.store.add_evaluation(p.program_id, "promoted", p.score,
                                      "ok" if math.isfinite(p.score) else "failed", False,
                                      ",".join(tasks), self.config.seeds, p.seconds, "promotion")
            member = Member(p.program_id, self.rewrite(p.program_id),
                            self.proxy_fitness(p.program_id))
            new_best = p.score < best_score
            if new_best:
                best_score = p.score
                self.promoted_best = member
                if self.config.promoted_seed == "join":
                    self.admit(member)
            self.observer.promoted(p, member, new_best)
