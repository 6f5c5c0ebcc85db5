"""Digests of what a cache's contents depend on: a few version strings and settings, and the
bytes of every file under some folders (code and data), so that a cache keyed by the digest is
never read by code it was not made from. Pure Python: computing one imports nothing heavy."""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path


def digest(parts: Iterable[str], folders: Iterable[Path]) -> str:
    """A hex digest of `parts` and of every file under `folders` (each named by its path from
    its folder's parent, in sorted order; caches of compiled Python left out)."""
    hashed = hashlib.blake2b(digest_size=16)
    for part in parts:
        hashed.update(part.encode() + b"\0")
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                name = str(path.relative_to(folder.parent))
                hashed.update(name.encode() + b"\0" + path.read_bytes())
    return hashed.hexdigest()
