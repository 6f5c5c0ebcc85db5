"""Regularized evolution over programs (Real et al. 2019, as used to find Lion).

The population is the last P evaluated children. Each new child is a mutant of the winner of a
tournament of T members drawn at random from the population; when it is evaluated it joins the
population and the oldest member leaves. The search is steady-state and asynchronous: children
are proposed whenever a worker has room, and results are taken in completion order.

A child equivalent to an evaluated program (same data-flow hash or functional fingerprint)
reuses that fitness without training; a child whose update does not grow with `lr` is rejected
before training (lr_check). Until the population is full (at the start, and after a restart)
children are mutants of the sources: the calibrated seeds, or the best program.

Fitness is the proxy task's validation loss, or over a portfolio of tasks the mean log ratio to
tuned AdamW (portfolio). Every `promote_every` evaluations the best distinct programs are
re-trained on larger tasks (promotion); the run's best is the best by promoted score.

The search process never trains: the seeds' calibration, meta-validation and promotion are jobs
for the workers like the children. The workers start (`start_pool`) while the search opens its journal,
and compile while the calibration jobs queue; the observer hears what start-up waits for, and
the time from the command's start to the first trained child is journaled (`startup`).

Modules, in the order data flows (each imports only those above it):

    records            `Member`, a member of the population, and `Stats`, what the live view shows
    observer           the `Observer` protocol, `QuietObserver`, the phases CALIBRATING, TRAINING
    pools              starting the workers: `make_pool`, `start_pool` (in a background thread),
                       `stop_pool`, `warm_programs`, `process_started`
    sweeps             journaling the lr sweeps of AdamW (references) and of the seeds
    population         `Population`: the last P children, tournament selection, the best, restarts
    metavalidation     `MetaValidation`: the best so far trained on a held-out larger task
    promotion_scheduler  `PromotionScheduler`: when rounds of promotion start, their results filed
    evolution          `Search`: set up or resume, propose, record, restart, run; holds the three
    notebook           `evolve`: a whole search in one call, for notebooks and scripts
"""
from lion_search.search.evolution import HALL_OF_FAME_EVERY, Search
from lion_search.search.metavalidation import MetaValidation
from lion_search.search.notebook import evolve
from lion_search.search.observer import CALIBRATING, TRAINING, Observer, QuietObserver
from lion_search.search.pools import (
           make_pool,
           process_started,
           start_pool,
           stop_pool,
           warm_programs,
)
from lion_search.search.population import Population
from lion_search.search.promotion_scheduler import PromotionScheduler
from lion_search.search.records import Member, Stats

__all__ = ["CALIBRATING", "HALL_OF_FAME_EVERY", "TRAINING", "Member", "MetaValidation",
           "Observer", "Population", "PromotionScheduler", "QuietObserver", "Search", "Stats",
           "evolve", "make_pool", "process_started", "start_pool", "stop_pool", "warm_programs"]
