"""The seeds in canonical form (`structure.canonical`), kept on disk so that relating a program
to the seeds (`retune`) imports no JAX.

Putting a seed in canonical form folds its constant expressions with the ops' JAX
implementations (adax's log1p(0.0001); + - * in radam, ranger and adax), and importing JAX and
running them takes 1 to 2 s, more than the rest of `show RUN:ID`. `canonical_seeds` computes the
forms once per code version and keeps them as program text (parse(print(p)) == p, constants
printed by repr: exact) in FORMS/<version>.json. The version (`forms_version`) is a digest of
every file of lion_search, the seed files, and what the folds compute with: the JAX and jaxlib
versions and JAX_PLATFORMS and JAX_ENABLE_X64, read without importing JAX. So forms are never
reused for code they were not computed from; writing them deletes the other versions' files.
A file is written whole under a temporary name and renamed into place, so that processes
writing at once each leave a complete file; a missing or damaged file is computed again, and
where the folder cannot be written the forms are computed in each process.
"""
from __future__ import annotations

import functools
import json
import os
import tempfile
from importlib import metadata
from pathlib import Path

from lion_search.analysis.structure import canonical
from lion_search.language import versions
from lion_search.language.errors import ProgramError
from lion_search.language.library import SEEDS_DIR, read_program, seed_names
from lion_search.language.parser import parse_program
from lion_search.language.program import Program

FORMS = Path.home() / ".cache" / "lion-search" / "seed-forms"
_FOLDS = ("jax", "jaxlib")                       # the distributions whose ops fold constants
_SETTINGS = ("JAX_PLATFORMS", "JAX_ENABLE_X64")  # the settings that change what they compute


@functools.cache
def forms_version() -> str:
    """A hex digest of what the seeds' canonical forms depend on (see the module)."""
    package = Path(__file__).resolve().parents[1]
    return versions.digest([metadata.version(name) for name in _FOLDS]
                           + [os.environ.get(name, "") for name in _SETTINGS],
                           [package, SEEDS_DIR])


def canonical_seeds(folder: Path | None = None) -> dict[str, Program]:
    """Every seed's canonical form by name, read from `folder` (default: $LION_SEARCH_SEED_FORMS,
    else FORMS) if kept there for this code version, else computed and kept."""
    folder = folder or Path(os.environ.get("LION_SEARCH_SEED_FORMS", FORMS))
    path = folder / f"{forms_version()}.json"
    try:
        texts = json.loads(path.read_text())
        forms = {name: parse_program(text) for name, text in texts.items()}
        if sorted(forms) == seed_names():
            return forms
    # Not kept yet, or a damaged file (not JSON, not an object of program texts): compute.
    except (OSError, ValueError, AttributeError, TypeError, ProgramError):
        pass
    forms = {name: canonical(read_program(name))[0] for name in seed_names()}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".partial", delete=False) as f:
            json.dump({name: str(form) for name, form in forms.items()}, f, indent=1)
        os.replace(f.name, path)
    except OSError:   # a folder we cannot write: the forms serve this process only
        return forms
    for old in folder.glob("*.json"):
        if old != path:
            old.unlink(missing_ok=True)
    return forms
