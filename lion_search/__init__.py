"""lion-search: discover optimizers by evolving small symbolic programs.

    import lion_search
    prog = lion_search.load_program("lion")              # a seed name or a file path
    tx = lion_search.to_optax(prog, learning_rate=3e-4)  # an optax.GradientTransformation
"""
from lion_search.errors import LionSearchError, ProgramError
from lion_search.export import to_optax
from lion_search.language import Program, parse_program
from lion_search.library import load_program

__all__ = ["LionSearchError", "Program", "ProgramError", "load_program", "parse_program",
           "to_optax"]

