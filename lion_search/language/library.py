"""Finding programs: seed programs by name (the files in `programs/`) and program files by path."""
from __future__ import annotations

import ast
import os
from pathlib import Path

from lion_search.language.errors import ProgramError
from lion_search.language.parser import parse_program
from lion_search.language.program import Program


def _seeds_dir() -> Path:
    """Where the seed programs are: `$LION_SEARCH_PROGRAMS` if set; else `lion_search/seeds/`
    where it exists (an installed wheel, built from `programs/`); else the checkout's top-level
    `programs/` (a checkout or an editable install: the source of truth)."""
    if "LION_SEARCH_PROGRAMS" in os.environ:
        return Path(os.environ["LION_SEARCH_PROGRAMS"])
    packaged = Path(__file__).resolve().parents[1] / "seeds"
    return packaged if packaged.is_dir() else Path(__file__).resolve().parents[2] / "programs"


SEEDS_DIR = _seeds_dir()


def seed_names() -> list[str]:
    """The names of the seed programs, sorted."""
    return sorted(p.stem for p in SEEDS_DIR.glob("*.py"))


EXPORTED_PROGRAM = "PROGRAM"  # the module-level string holding an exported module's program


def exported_program_text(data: bytes) -> str | None:
    """The program text of a module written by `lion-search export`: the string constant
    assigned to PROGRAM at the module's top level, preceded by blank lines so that its line
    numbers are the module's. None for any other file. The module is parsed with `ast`, never
    run."""
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 \
                and isinstance(node.targets[0], ast.Name) \
                and node.targets[0].id == EXPORTED_PROGRAM \
                and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            return "\n" * (node.value.lineno - 1) + node.value.value
    return None


def read_program_file(path: str | Path) -> Program:
    """Parse the program in file `path`: a program file, or a module written by
    `lion-search export` (the program it holds). Errors name the file, line and column."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ProgramError(f"cannot read program file {str(path)!r}: {err.strerror}") from None
    held = exported_program_text(data)
    return parse_program(data if held is None else held, source=str(path))


def read_program(name_or_path: str | Path) -> Program:
    """A seed program by name (`"lion"`) or the program in a file (`"my_opt.py"`)."""
    text = str(name_or_path)
    if text in seed_names():
        return read_program_file(SEEDS_DIR / f"{text}.py")
    if Path(text).exists() or "/" in text or text.endswith(".py"):
        return read_program_file(text)
    raise ProgramError(f"unknown program {text!r}: not a seed ({', '.join(seed_names())}), "
                       "a file, or RUN:ID")
