"""`export`: a program as a standalone optax module, or a torch optimizer."""
from __future__ import annotations

import argparse

from lion_search.cli.display import console, warn


def cmd_export(args: argparse.Namespace) -> None:
    """Write a program as a standalone optax module (`--framework torch`: a torch optimizer, a
    one-line error where torch is not installed): a run's program in its simplified form
    (`--raw`: as journaled), named after the run, with the learning rate the search used."""
    from lion_search.analysis.lr_check import lr_warning
    from lion_search.export.header import DEFAULT_LR_ADVICE
    from lion_search.export.optax_module import write_optax_module
    from lion_search.runs.references import load_program, split_run_ref
    from lion_search.selection.winners import export_form

    if args.framework == "torch":
        from lion_search.export.torch_module import needs_torch

        needs_torch()
    ref = split_run_ref(args.program)
    if ref:
        form = export_form(*ref, raw=args.raw)
        program, advice = form.program, (form.learning_rate, form.why)
        console.print(f"exporting {form.form}, as {program.name}")
        warn(form.note)
        warn(form.untested)
    else:
        program, advice = load_program(args.program), DEFAULT_LR_ADVICE
    write = write_optax_module
    if args.framework == "torch":
        from lion_search.export.torch_module import optimizer_class
        from lion_search.export.torch_module import write_torch_module as write
    path = write(program, args.output, advice)
    if args.framework == "torch":
        cls = optimizer_class(program)
        console.print(f"wrote {path}: `from {path.stem} import {cls}; optimizer = {cls}("
                      f"model.parameters(), lr={advice[0]:.3g})` ({advice[1]})")
    else:
        console.print(f"wrote {path}: `from {path.stem} import optimizer; "
                      f"tx = optimizer(learning_rate={advice[0]:.3g})` ({advice[1]})")
    warn(lr_warning(program))
