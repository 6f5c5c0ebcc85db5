"""The live view of a search: a rich progress bar, and the best program printed when it changes.
After each promotion round it says how well the proxy transfers (`runs.transfer`: the Kendall tau
between proxy fitness and promoted score so far, also on the bar), and warns once the proxy is
misleading the search.

During start-up the bar's label says what the run waits for (starting workers, compiling,
calibrating, training the first children); at the first trained evaluation one line tells how
long start-up took, phase by phase.
"""
from __future__ import annotations

import math

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from lion_search.inspect.summary import format_delta, format_startup
from lion_search.runs.transfer import Transfer
from lion_search.search.held_back import HeldBack
from lion_search.search.promotion import Promotion
from lion_search.search.records import Member, Stats


def format_fitness(value: float) -> str:
    """A fitness for people: 4 significant digits, 'failed' for the worst."""
    return f"{value:.4g}" if math.isfinite(value) else "failed"


class LiveView:
    """Implements evolve.Observer with a progress bar on the console."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.1f} eval/s"),
            TextColumn("cache hits {task.fields[hits]}"),
            TextColumn("best {task.fields[best]} {task.fields[delta]}"),
            TextColumn("{task.fields[transfer]}"),
            TimeElapsedColumn(), console=self.console, transient=False)
        self.task = None
        self.transfer_field = ""   # the bar's transfer: tau over the promoted programs so far
        self.warned = False

    def __enter__(self) -> "LiveView":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def seeds(self, seeds: list[dict]) -> None:
        for seed in seeds:
            self.console.print(f"seed {seed['name']}: lr x{seed['lr_scale']:g} (calibrated), "
                               f"fitness {format_fitness(seed['fitness'])}")

    def _fields(self, stats: Stats) -> dict:
        best = stats.best.fitness if stats.best else math.inf
        hit_rate = stats.cache_hits / stats.lookups if stats.lookups else 0.0
        more = "".join(f", {n} {what}" for n, what in (
            (stats.reevaluations, "re-evaluated"), (stats.equivalents, "re-mutated"),
            (stats.migrations, "migrated")) if n)
        return {"rate": stats.rate, "hits": f"{100 * hit_rate:.0f}%{more}",
                "best": format_fitness(best) if stats.best else "-",
                "delta": format_delta(best, stats.seed_fitness, stats.relative),
                "transfer": self.transfer_field}

    def update(self, stats: Stats) -> None:
        if self.task is None:
            self.task = self.progress.add_task("evolve", total=stats.budget, **self._fields(stats))
        self.progress.update(self.task, completed=stats.trained, **self._fields(stats))

    def starting(self, phase: str, stats: Stats) -> None:
        """Label the bar with what start-up waits for."""
        self.update(stats)
        self.progress.update(self.task, description=f"{phase}...")

    def started(self, startup: dict) -> None:
        """Say how long start-up took; the bar is the search's from now on."""
        self.progress.console.print(format_startup(startup))
        if self.task is not None:
            self.progress.update(self.task, description="evolve")

    def metaval(self, task: str, member: Member, fitness: float) -> None:
        self.progress.console.print(f"meta-validation of #{member.id} on {task}: "
                                    f"{format_fitness(fitness)} (proxy {format_fitness(member.fitness)})")

    def promoted(self, promotion: Promotion, member: Member, best: bool,
                 screen: float | None = None) -> None:
        tasks = ", ".join(f"{t.task} {format_fitness(t.loss)}" for t in promotion.per_task)
        screened = "" if screen is None else f", screen {format_fitness(screen)}"
        self.progress.console.print(
            f"promoted #{member.id} (proxy {format_fitness(member.fitness)}{screened}): score "
            f"{format_fitness(promotion.score)} ({tasks})"
            + (" - the best promoted so far" if best else ""))

    def transfer(self, transfer: Transfer) -> None:
        """Say how the proxy transfers after a promotion round; warn (once) when it misleads."""
        if not math.isnan(transfer.tau):
            self.transfer_field = (f"transfer tau {transfer.tau:+.2f} over {transfer.promoted}"
                                   + (" MISLEADING" if transfer.misleading else ""))
            if self.task is not None:
                self.progress.update(self.task, transfer=self.transfer_field)
        self.progress.console.print(transfer.describe())
        warning = transfer.warning()
        if warning and not self.warned:
            self.warned = True
            self.progress.console.print(f"[bold red]warning:[/] {warning}")

    def held_back(self, check: HeldBack) -> None:
        """Say whether the best gains held up on the held-back seeds; warn when they did not."""
        self.progress.console.print(check.describe())
        warning = check.warning()
        if warning:
            self.progress.console.print(f"[bold red]warning:[/] {warning}")

    def new_best(self, member: Member, stats: Stats) -> None:
        """Print the best program so far, unless it only ties (or trails) the seeds."""
        self.update(stats)
        if not member.fitness < stats.seed_fitness:
            return
        self.progress.console.print(
            f"new best #{member.id}: fitness {format_fitness(member.fitness)} "
            f"{format_delta(member.fitness, stats.seed_fitness, stats.relative)}")
        self.progress.console.print(str(member.program), end="", highlight=False)
