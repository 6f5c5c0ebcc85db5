"""The `lion-search` command line: one subcommand per user task; every error is one line.

    lion-search programs                 the seed programs and their memory cost
    lion-search show NAME|PATH           one program, with its memory cost
    lion-search export PROGRAM -o F.py   a standalone optax module (jax + optax only)
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable, Sequence

from rich.console import Console
from rich.table import Table

from lion_search.errors import LionSearchError
from lion_search.export import write_module
from lion_search.library import SEEDS_DIR, load_program, seed_names

console = Console(highlight=False, soft_wrap=True)


def cmd_programs(args: argparse.Namespace) -> None:
    """List the seed programs with their memory cost and length."""
    table = Table(title=f"Seed programs ({SEEDS_DIR})")
    table.add_column("name", no_wrap=True)
    table.add_column("memory", justify="right")
    table.add_column("length", justify="right")
    table.add_column("source")
    for name in seed_names():
        program = load_program(name)
        first = (SEEDS_DIR / f"{name}.py").read_text().splitlines()[0].lstrip("# ")
        table.add_row(name, str(program.memory_cost), str(len(program)), first.split("),")[0] + ")")
    console.print(table)


def cmd_show(args: argparse.Namespace) -> None:
    """Print one program and its memory cost."""
    program = load_program(args.program)
    console.print(f"# {program.name}: memory cost {program.memory_cost} slot(s), "
                  f"{len(program)} instruction(s)")
    console.print(str(program), end="")


def cmd_export(args: argparse.Namespace) -> None:
    """Write a program as a standalone optax module."""
    program = load_program(args.program)
    path = write_module(program, args.output)
    console.print(f"wrote {path}: `from {path.stem} import optimizer; "
                  f"tx = optimizer(learning_rate=1e-3)`")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, with one subparser per command."""
    parser = argparse.ArgumentParser(
        prog="lion-search", description="Discover optimizers by evolving symbolic programs.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], None], help: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=fn)
        return p

    add("programs", cmd_programs, "list the seed programs with their memory cost")
    p = add("show", cmd_show, "print a program (a seed name or a file) with its memory cost")
    p.add_argument("program", help="a seed name (see `lion-search programs`) or a program file")
    p = add("export", cmd_export, "write a program as a standalone optax module")
    p.add_argument("program", help="a seed name or a program file")
    p.add_argument("-o", "--output", required=True, help="the module to write, a .py file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command; errors print as one line and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except LionSearchError as err:
        print(f"lion-search: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lion-search: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
