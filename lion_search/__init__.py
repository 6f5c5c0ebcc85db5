"""lion-search: discover optimizers by evolving small symbolic programs.

    import lion_search
    prog = lion_search.load_program("lion")              # a seed name or a file path
    tx = lion_search.to_optax(prog, learning_rate=3e-4)  # an optax.GradientTransformation
    results = lion_search.evaluate(prog, task="digits-mlp", seeds=(0, 1))  # .fitness, .curve
    run = lion_search.evolve(budget=500, task="digits-mlp")  # a search; returns its run folder

A user's own task is a function returning a ``lion_search.Task`` (``proxy_tasks.base.Task``),
named ``MODULE:FUNCTION`` or ``path/to/file.py:FUNCTION`` wherever a task name goes.
"""
import importlib

# Each name is imported when first used (PEP 562), so that `import lion_search` and every
# `lion-search` command start without JAX: a command imports what it needs when it runs, and a
# refused one (a bad argument, a run another process is writing) answers at once.
_EXPORTS = {"evaluate": "lion_search.evaluation.fitness",
            "eval_params": "lion_search.export.optax_module",
            "to_optax": "lion_search.export.optax_module",
            "LionSearchError": "lion_search.language.errors",
            "ProgramError": "lion_search.language.errors",
            "parse_program": "lion_search.language.parser",
            "Program": "lion_search.language.program",
            "load_program": "lion_search.runs.references",
            "evolve": "lion_search.search.notebook",
            "Task": "proxy_tasks", "make_schedule": "proxy_tasks"}

__all__ = ["LionSearchError", "Program", "ProgramError", "Task", "eval_params", "evaluate", "evolve",
           "load_program", "make_schedule", "parse_program", "to_optax"]


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lion_search' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
