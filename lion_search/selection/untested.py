"""The untested-code warning of a run's program (`analysis.branch_coverage`): the sides of its
per-tensor decisions that tensors of other tasks take and no tensor of the tasks its run trains
candidates on (the search's, the screen's and promotion's) does."""
from __future__ import annotations

from lion_search.analysis.branch_coverage import has_decision, untested_warning
from lion_search.language.program import Program


def untested_warning_in_run(config: dict, program: Program) -> str | None:
    """`branch_coverage.untested_warning` of `program` (a program of the run whose journaled
    configuration is `config`, or a form of one) over the tasks the run trained candidates
    on."""
    if not has_decision(program):
        return None
    # (imported here: resolving the run's tasks imports JAX, which `show` of a program
    # without decisions does without)
    from lion_search.search.config import EvolveConfig

    return untested_warning(program, EvolveConfig.from_json(config).trained_on)
