"""`bench --journal N`: build (or reuse) a benchmark run journal of N programs and print how long
the commands that read it take (bench.journal_scale)."""
from __future__ import annotations

from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lion_search.cli.display import console


def bench_journal(programs: int, folder: Path) -> None:
    """Build the journal in FOLDER/run-N unless a benchmark journal of N programs is there, then
    time the commands on a copy of it (FOLDER/timed) and print the table."""
    from lion_search.bench.journal_scale import benchmark_journal, build_journal, time_commands
    from lion_search.language.errors import LionSearchError

    if programs < 100:
        raise LionSearchError(f"--journal takes at least 100 programs, got {programs}")
    run = folder / f"run-{programs}"
    if benchmark_journal(run) == programs:
        console.print(f"reusing the benchmark journal in {run} (delete it to build it again)")
    else:
        label = f"building a journal of {programs:,} programs in {run}"
        with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task(label, total=programs)
            build_journal(run, programs,
                          progress=lambda journaled: bar.update(task, completed=journaled))
    with console.status(f"timing commands on a copy of {run}"):
        report = time_commands(run, folder / "timed")
    console.print(f"{report.programs:,} programs and {report.evaluations:,} evaluations in "
                  f"{report.megabytes:.0f} MiB; opening the copy first took {report.upgrade:.1f} s "
                  "(a journal of an older schema is upgraded then, and its hall of fame filled "
                  "once); the fitness is synthetic (a hash of each program's text)")
    table = Table(title=f"lion-search commands on a journal of {report.programs:,} programs, "
                        "one after the other")
    for column, justify in (("command", "left"), ("seconds", "right"), ("note", "left")):
        table.add_column(column, justify=justify)
    for command in report.commands:
        table.add_row(command.label, f"{command.seconds:.2f}", command.note)
    console.print(table)
