"""`main`, the `lion-search` console script: parse, run one command, and turn its errors into
one line and an exit status."""
from __future__ import annotations

import os
import sys
from typing import Sequence

from lion_search.cli.parser import build_parser
from lion_search.language.errors import LionSearchError


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command; errors print as one line and exit with status 2."""
    from lion_search.evaluation import xla

    # One core per training, as the Ray workers run (set before JAX starts its backend); a
    # command that trains on several threads (evolve's workers, bench's) sizes the pool again.
    os.environ.setdefault("XLA_FLAGS", xla.SINGLE_THREAD_XLA)
    xla.size_thread_pool(1)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except LionSearchError as err:
        print(f"lion-search: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lion-search: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        sys.stdout = open(os.devnull, "w")
        return 1
