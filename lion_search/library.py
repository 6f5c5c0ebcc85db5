"""Finding programs: seed programs by name (the files in `programs/`) and program files by path."""
from __future__ import annotations

import os
from pathlib import Path

from lion_search.errors import ProgramError
from lion_search.language import Program, parse_program

SEEDS_DIR = Path(os.environ.get("LION_SEARCH_PROGRAMS",
                                Path(__file__).resolve().parent.parent / "programs"))


def seed_names() -> list[str]:
    """The names of the seed programs, sorted."""
    return sorted(p.stem for p in SEEDS_DIR.glob("*.py"))


def read_program_file(path: str | Path) -> Program:
    """Parse the program in file `path` (errors name the file, line and column)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ProgramError(f"cannot read program file {str(path)!r}: {err.strerror}") from None
    return parse_program(data, source=str(path))


def load_program(name_or_path: str | Path) -> Program:
    """A seed program by name (`"lion"`), the program in a file (`"my_opt.py"`), or a program
    of a run (`"runs/x:17"`, `"runs/x:best"`)."""
    from lion_search.summary import run_program, split_run_ref

    text = str(name_or_path)
    ref = split_run_ref(text)
    if ref:
        row, _ = run_program(*ref)
        return parse_program(row.text, source=text)
    seed = SEEDS_DIR / f"{text}.py"
    if text in seed_names():
        return read_program_file(seed)
    if Path(text).exists() or "/" in text or text.endswith(".py"):
        return read_program_file(text)
    raise ProgramError(f"unknown program {text!r}: not a seed ({', '.join(seed_names())}), "
                       "a file, or RUN:ID")
