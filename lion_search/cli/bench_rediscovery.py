"""`bench --rediscovery`: the rediscovery rate over search seeds (bench.rediscovery): the
searches not run yet, then each seed's RUN:best simplified, related to the seeds and tested
against tuned AdamW and Muon on the held-out task; a table, each program, the cache hits over
time, and the report written to the out folder."""
from __future__ import annotations

import argparse
import contextlib
import io
import shlex
from collections.abc import Sequence
from pathlib import Path

from rich.table import Table

from lion_search.cli.display import console
from lion_search.cli.evolve_options import add_evolve_options
from lion_search.language.errors import LionSearchError

DEFAULT_OUT = Path("runs") / "rediscovery"   # OUT is this, then -PROXY, unless told


def bench_rediscovery(args: argparse.Namespace) -> None:
    """Run (or resume, or report again) the rediscovery benchmark and print its report."""
    from lion_search.bench.rediscovery import (
        CONSTANTS,
        REPORT_JSON,
        REPORT_MARKDOWN,
        TUNING_SEEDS,
        found_text,
        loss_text,
        rediscovery,
        share_text,
        summary_line,
    )
    from lion_search.bench.rediscovery_history import SETTLED, WINDOW
    from lion_search.bench.rediscovery_searches import Settings, rediscovery_plan

    plan = rediscovery_plan(args.proxy, args.promote_tasks, args.test_task)
    given = {k: v for k, v in (("searches", args.searches), ("cpu_limit", args.cpu_limit),
                               ("parallel", args.parallel), ("trials", args.trials))
             if v is not None}
    if args.search_args:
        given["search_args"] = evolve_arguments(args.search_args)
    settings = Settings(plan, **given)
    settings.check()
    out = Path(args.out or f"{DEFAULT_OUT}-{plan.proxy}")
    with console.status(f"rediscovery benchmark in {out}") as status:
        report = rediscovery(settings, out, status.update)
    a, m = report.baselines
    table = Table(title=f"rediscovery on {plan.test_task}: {settings.searches} search seeds "
                        f"from adamw on {plan.proxy}, {settings.cpu_limit:g} CPU s each; each "
                        f"side tuned with {settings.trials} trials x {len(TUNING_SEEDS)} seeds "
                        f"(found programs: "
                        f"lr and {CONSTANTS} constants)")
    for column in ("seed", "RUN:best", "what it is", "val loss (per seed)",
                   "gap closed (per seed)", "success", "first trained", "cache hits",
                   f"new after {SETTLED:,}", "CPU s"):
        table.add_column(column, justify="left" if column in ("what it is",) else "right")
    for o in report.outcomes:
        table.add_row(str(o.seed), f"#{o.best}", o.relation.headline, loss_text(o.tuned),
                      f"{share_text(o.gap)} ({', '.join(map(share_text, o.gap_per_seed))})",
                      "yes" if o.success else "no", found_text(o), share_text(o.hit_rate),
                      share_text(o.new_after),
                      "" if o.process is None else f"{o.process.cpu_seconds:.0f}")
    console.print(table)
    console.print(f"tuned {a.name}: {loss_text(a)} at lr {a.lr:.3g}; tuned {m.name}: "
                  f"{loss_text(m)} at lr {m.lr:.3g} ({a.budget}; {m.budget})", highlight=False)
    for o in report.outcomes:
        console.print(f"\nseed {o.seed}, {o.run}:best (#{o.best}; as found: "
                      f"{o.found_as.headline}) simplified: {o.relation.headline}",
                      markup=False, highlight=False)
        console.print(o.program, markup=False, highlight=False)
    console.print(f"\ncache hits per {WINDOW:,} proposed children:", highlight=False)
    for o in report.outcomes:
        console.print(f"seed {o.seed}: " + " ".join(share_text(w.hit_rate) for w in o.windows),
                      highlight=False)
    console.print(f"\n{summary_line(report)}", markup=False, highlight=False)
    console.print(f"wrote {out / REPORT_MARKDOWN} and {out / REPORT_JSON}")


def evolve_arguments(text: str) -> tuple[str, ...]:
    """`text` split as a shell would, if `lion-search evolve` takes it and it sets none of the
    benchmark's own settings (`BENCH_SETS`, however abbreviated); else one line naming what it
    refused."""
    from lion_search.bench.rediscovery_searches import BENCH_SETS

    words = tuple(shlex.split(text))
    parser, refused = argparse.ArgumentParser(prog="lion-search evolve"), io.StringIO()
    add_evolve_options(parser)
    try:
        with contextlib.redirect_stderr(refused):
            given = parser.parse_args(words)
    except SystemExit:
        reason = refused.getvalue().strip().splitlines()[-1].split("error: ")[-1]
        raise LionSearchError(f"--search-args {text!r} are not arguments of lion-search "
                              f"evolve: {reason}") from None
    default = parser.parse_args([])
    fixed = [name for name in BENCH_SETS if getattr(given, name) != getattr(default, name)]
    if fixed:
        raise LionSearchError(f"--search-args may not set {flags(fixed)}: the benchmark sets "
                              f"{flags(BENCH_SETS)} itself")
    return words


def flags(names: Sequence[str]) -> str:
    """Settings as the command line spells them: --rng-seed, --cpu-limit."""
    return ", ".join("--" + name.replace("_", "-") for name in names)
