"""lion-search: discover optimizers by evolving small symbolic programs.

    import lion_search
    prog = lion_search.load_program("lion")              # a seed name or a file path
    tx = lion_search.to_optax(prog, learning_rate=3e-4)  # an optax.GradientTransformation
    results = lion_search.evaluate(prog, task="digits-mlp", seeds=(0, 1))  # .fitness, .curve
    run = lion_search.evolve(budget=500, task="digits-mlp")  # a search; returns its run folder
"""
from lion_search.errors import LionSearchError, ProgramError
from lion_search.export import to_optax
from lion_search.fitness import evaluate
from lion_search.language import Program, parse_program
from lion_search.library import load_program
from lion_search.search import evolve

__all__ = ["LionSearchError", "Program", "ProgramError", "evaluate", "evolve", "load_program",
           "parse_program", "to_optax"]
