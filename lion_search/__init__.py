"""lion-search: discover optimizers by evolving small symbolic programs.

    import lion_search
    prog = lion_search.load_program("lion")              # a seed name or a file path
    tx = lion_search.to_optax(prog, learning_rate=3e-4)  # an optax.GradientTransformation
    results = lion_search.evaluate(prog, task="digits-mlp", seeds=(0, 1))  # .fitness, .curve
    run = lion_search.evolve(budget=500, task="digits-mlp")  # a search; returns its run folder

A user's own task is a function returning a ``lion_search.Task`` (``proxy_tasks.base.Task``),
named ``MODULE:FUNCTION`` or ``path/to/file.py:FUNCTION`` wherever a task name goes.
"""
from lion_search.evaluation.fitness import evaluate
from lion_search.export.optax_module import eval_params, to_optax
from lion_search.language.errors import LionSearchError, ProgramError
from lion_search.language.parser import parse_program
from lion_search.language.program import Program
from lion_search.runs.references import load_program
from lion_search.search.notebook import evolve
from proxy_tasks import Task, make_schedule

__all__ = ["LionSearchError", "Program", "ProgramError", "Task", "eval_params", "evaluate", "evolve",
           "load_program", "make_schedule", "parse_program", "to_optax"]
