"""The evolving population (search/population.py): the oldest member leaves, parents come from
the sources until it is full and from tournaments after, the best is the lowest finite fitness,
and a restart refills it from the seeds or the best (by promoted score first)."""
import math

import numpy as np

from lion_search.language.library import read_program
from lion_search.search.population import Population, RestartSource
from lion_search.search.records import Member

ADAMW, LION = read_program("adamw"), read_program("lion")


def member(i, fitness):
    return Member(i, ADAMW if i % 2 else LION, fitness)


def population(size=4, tournament=2, seed=0):
    pop = Population(size, tournament, np.random.default_rng(seed))
    pop.resume([], None, None, [member(1, 5.0), member(3, 6.0)], None)
    return pop


def test_the_oldest_member_leaves_and_the_best_is_the_lowest_finite_fitness():
    pop = population(size=3)
    news = [pop.admit(member(10 + i, f)) for i, f in enumerate([3.0, math.inf, 4.0, 1.0, 2.0])]
    assert news == [True, False, False, True, False]
    assert [m.id for m in pop.members] == [12, 13, 14] and len(pop) == 3
    assert pop.best.id == 13
    pop.admit(member(20, math.inf))
    assert pop.best.id == 13            # a failure never becomes the best


def test_parents_come_from_the_seeds_until_the_population_is_full():
    pop = population(size=4)
    pop.admit(member(10, 0.5))
    assert {pop.select_parent().id for _ in range(40)} == {1, 3}
    for i in range(3):
        pop.admit(member(11 + i, 1.0 + i))
    parents = [pop.select_parent().id for _ in range(200)]
    # A tournament of 2 from 4: the worst member (13, fitness 3) never wins, the best often.
    assert set(parents) <= {10, 11, 12} and 13 not in parents
    assert parents.count(10) > parents.count(12)


def test_a_tournament_of_the_whole_population_picks_its_best():
    pop = population(size=3, tournament=3)
    for i, f in enumerate([2.0, 0.5, 1.0]):
        pop.admit(member(10 + i, f))
    assert {pop.select_parent().id for _ in range(20)} == {11}


def test_a_restart_refills_from_the_best_or_the_seeds():
    pop = population(size=2)
    for i, f in enumerate([2.0, 0.5]):
        pop.admit(member(10 + i, f))
    pop.restart(RestartSource.BEST)
    assert pop.members == [] and pop.sources() == [pop.best] and pop.best.id == 11
    pop.promoted_best = member(7, 3.0)
    assert pop.sources() == [member(7, 3.0)] and pop.members == []   # promoted score first
    seeds = population(size=2)
    seeds.admit(member(10, 0.1))
    seeds.restart(RestartSource.SEEDS)
    assert [m.id for m in seeds.sources()] == [1, 3]


def test_the_same_random_stream_draws_the_same_parents():
    draws = []
    for _ in range(2):
        pop = population(size=3, seed=42)
        for i, f in enumerate([3.0, 1.0, 2.0]):
            pop.admit(member(10 + i, f))
        draws.append([pop.select_parent().id for _ in range(30)])
    assert draws[0] == draws[1]
