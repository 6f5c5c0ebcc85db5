"""Traced training loops kept on disk, so that a new process does not trace them again.

JAX's persistent compilation cache (workers.use_compilation_cache) keeps what XLA compiled, but
a process still traces and lowers each loop before it can look that up: about a second per
task for the interpreter's loop (its `switch` over every op), and the threads doing it hold
the GIL, so start-up waits for all of them in turn. `jit_kept` traces a function once, keeps
its `jax.export` serialization under TRACED, and in a later process deserializes it instead:
the same StableHLO, so the same compiled program and the same numbers.

A kept module is found by a key that names what was traced (the caller's, e.g. the task and the
interpreter's sizes) and by `code_version`: the JAX and jaxlib versions, the backend, XLA_FLAGS
and every file of lion_search and proxy_tasks (code and data). Any change to those makes a new
key, so a module is never reused for code it was not traced from, and writing a module deletes
those of other versions. A function of the user's own code (whose source is not in the version) is not
kept. A missing or unreadable module is traced again and rewritten (atomically: concurrent
workers may write the same key).
"""
from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Callable

import jax
from jax import export

from lion_search.language import versions

TRACED = Path.home() / ".cache" / "lion-search" / "traced"
_PACKAGES = ("lion_search", "proxy_tasks")


@functools.cache
def code_version(packages: tuple[str, ...] = _PACKAGES) -> str:
    """A hex digest of everything a traced module depends on besides its own key: the versions
    and flags above and every file under `packages` (folders of the checkout)."""
    import jaxlib

    root = Path(__file__).resolve().parents[2]
    # code and data (a task's data is a constant in its module)
    return versions.digest((jax.__version__, jaxlib.__version__, jax.default_backend(),
                            os.environ.get("XLA_FLAGS", "")),
                           [root / package for package in packages])


_registered: set[type] = set()
_registering = threading.Lock()   # worker threads trace their tasks' loops at the same time


def _register(t: type) -> None:
    """Let `export` serialize the NamedTuple `t` (an argument or result of kept functions);
    once per type, as `export` refuses a second registration."""
    with _registering:
        if t not in _registered:
            export.register_namedtuple_serialization(
                t, serialized_name=f"lion_search.{t.__name__}")
            _registered.add(t)


def jit_kept(key: str, build: Callable[[], Callable], example: tuple,
             namedtuples: tuple[type, ...] = (), folder: Path | None = None) -> Callable[..., Any]:
    """`jax.jit(build())` for arguments shaped like `example`, traced once across processes:
    its serialized module is kept in `folder` (default: $LION_SEARCH_TRACED, else TRACED)
    under `key` and the code version. Other shapes are not accepted (a kept module has fixed
    shapes)."""
    for t in namedtuples:
        _register(t)
    folder = folder or Path(os.environ.get("LION_SEARCH_TRACED", TRACED))
    path = folder / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}-" \
                    f"{code_version()}.jax"
    try:
        exported = export.deserialize(bytearray(path.read_bytes()))
    # Not kept yet, or a damaged file (whatever the deserializer raises on it): trace again.
    except Exception:  # noqa: BLE001
        exported = export.export(jax.jit(build()))(*example)
        write_kept(path, bytes(exported.serialize()))
    return jax.jit(exported.call)


def write_kept(path: Path, data: bytes) -> None:
    """Write `data` to `path`, a file named for this code version, atomically (concurrent
    workers may write the same key); then delete the folder's files of its kind from other code
    versions (no process of this code reads them), so that it holds one version's, not one set
    per change of the code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}-{threading.get_ident()}.partial")
    partial.write_bytes(data)
    partial.replace(path)
    for old in path.parent.glob(f"*{path.suffix}"):
        if not old.name.endswith(f"{code_version()}{path.suffix}"):
            old.unlink(missing_ok=True)
