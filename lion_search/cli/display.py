"""The console every command prints to, and the formatting the commands share."""
from __future__ import annotations

import math
import os
import sys

from rich.console import Console

REDIRECTED_WIDTH = 160   # columns of tables written to a file or a pipe

# Output redirected to a log keeps its tables whole, not cut to rich's default of 80 columns
# (COLUMNS still sets the width).
console = Console(highlight=False, soft_wrap=True,
                  width=None if sys.stdout.isatty() or "COLUMNS" in os.environ
                  else REDIRECTED_WIDTH)


def fitness_text(x: float | None) -> str:
    return "failed" if x is None or not math.isfinite(x) else f"{x:.4g}"


def seeds_text(row: dict) -> str:
    """A best program's training seeds and, over two or more, their scores' spread: '4 ±0.24'
    (a mean over 4 runs that scatter by 0.24), so that a lucky mean of a chaotic program
    shows."""
    return str(row["seeds"]) + ("" if row["spread"] is None else f" ±{row['spread']:.2g}")


def warn(warning: str | None) -> None:
    """Print a warning about a program shown or exported (its lr check's, its untested
    code's), if it has one."""
    if warning:
        console.print(f"[bold yellow]warning:[/] {warning}")


def verdict_lines(summary: dict) -> list[str]:
    """The proxy's transfer to promotion, the verdict against the seed, how the reproductions
    moved and the held-back check, as printed (with their warnings)."""
    transfer = summary["transfer"]
    lines = [transfer["describe"]] if transfer["promoted"] else []
    if transfer["warning"]:
        lines.append(f"[bold red]warning:[/] {transfer['warning']}")
    if summary["verdict"]:
        lines.append(summary["verdict"])
    if summary["reproductions"]:
        lines.append(summary["reproductions"]["describe"])
    held_back = summary["held_back"]
    if held_back:
        lines.append(held_back["describe"])
        if held_back["warning"]:
            lines.append(f"[bold red]warning:[/] {held_back['warning']}")
    return lines
