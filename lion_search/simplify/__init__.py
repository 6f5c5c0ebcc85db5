"""Simplify a program: dead-code removal, rewrite rules to a fixed point, and ablation.

Three steps, each reported (`simplify` runs them, `format_report` prints what they did):

* Dead code. The data-flow graph (`dataflow_graph`, a networkx DiGraph) has a node per
  instruction and per output, and an edge from the instruction that defines a value to every
  instruction or output that reads it (a read sees the latest earlier write). Across steps, the
  new value of a memory slot (an output) feeds the next step's reads of the slot, so it has an
  edge to them too. The optimizer's behaviour is its sequence of updates: an instruction is
  dead when the update (output 0) is not reachable from it, and a memory slot is dead when the
  update is not reachable from its new value (its old value is never read, or only by dead
  code, as with the `m = cosh(update)` of the Lion paper's raw Program 4, whose m is
  overwritten before it is read). `remove_dead` drops both.

* Rewrite rules (`RULES`), each a small named local rewrite applied to one occurrence; `rewrite`
  applies the first rule that fires and removes dead code, until no rule fires. A rule may use
  values computed by earlier instructions (x / sqrt(m2) with m2 = x * x) as long as no name it
  relies on was reassigned in between. Rules are exact in real arithmetic on finite values, and
  in float32 up to a few ulp (constants are folded as the direct path, `execute`, computes
  them); where they are not bit-exact it is said in the rule's doc:
    - sign_of_ratio and abs_of_sqrt differ only where x * x over- or underflows float32
      (|x| > 1.8e19 or |x| < 1e-19), where x / sqrt(x * x) gives 0 rather than sign(x);
    - interp_same and interp_interp change float32 rounding by a few ulp of the operands, and
      apply only to constant weights of magnitude at most MAX_WEIGHT (with larger ones the
      runtime's (1 - a) x + a y cancels, and its result is mostly rounding error);
    - a rule that drops a value multiplied by 0 (mul_zero, sub_self, interp_zero, interp_one)
      applies only when that value is provably finite (`_finite_names`): 0 * inf is NaN, and
      + - * square interp and the reductions can overflow to inf even from finite inputs.
  Every result is normalized (`language.normalize`) and passes `validate.check`; a rewrite that
  would make the program invalid (an update of scalar shape, say) is not made.

* Ablation (`ablate`): try the program without each instruction (its readers read one of its
  arguments instead) and with each constant rounded (0.899 -> 0.9, 0.4602 -> 0.5); keep a
  change when the fitness stays within a tolerance of the original's.

Modules, in the order data flows (each imports only those above it):

    dead_code   the data-flow graph and dead-code removal (`dataflow_graph`, `remove_dead`)
    dataflow    per-name data-flow queries and the body edits the rules and ablation make
    rules       the exact rewrite rules (`RULES`) and `rewrite`, which applies them
    ablation    dropping instructions and rounding constants while fitness holds (`ablate`)
    pipeline    `simplify` (all three steps), `SimplifyReport`, `format_report`

`selection.simplify_run.simplify_in_run` simplifies a run's program on the run's own proxy.
"""
from lion_search.simplify.ablation import (
           AblationStep,
           ablate,
           drop_candidates,
           is_calibration,
           round_values,
           rounding_candidates,
           within,
)
from lion_search.simplify.dead_code import (
           Node,
           dataflow_graph,
           dead_instructions,
           dead_slots,
           output_node,
           remove_dead,
)
from lion_search.simplify.pipeline import SimplifyReport, format_report, simplify
from lion_search.simplify.rules import (
           LIMITS,
           MAX_REWRITES,
           MAX_WEIGHT,
           RULES,
           Rule,
           rewrite,
)

__all__ = ["LIMITS", "MAX_REWRITES", "MAX_WEIGHT", "RULES", "AblationStep", "Node", "Rule",
           "SimplifyReport", "ablate", "dataflow_graph", "dead_instructions", "dead_slots",
           "drop_candidates", "format_report", "is_calibration", "output_node", "remove_dead",
           "rewrite", "round_values", "rounding_candidates", "simplify", "within"]
