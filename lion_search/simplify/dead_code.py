"""Dead code: the data-flow graph of a program, across steps, and the removal of the
instructions and memory slots from which the update is not reachable (see the package's
docstring)."""
from __future__ import annotations

import functools

import networkx as nx

from lion_search.language.parser import normalize
from lion_search.language.program import Program

Node = int | tuple[str, int]  # an instruction's index, or ("out", k) for output k


def output_node(k: int) -> Node:
    """The graph node of output k (0: the update, 1 + j: the new value of memory slot j)."""
    return ("out", k)


def dataflow_graph(program: Program) -> nx.DiGraph:
    """Edges from each instruction to the instructions and outputs that read its value (a read
    sees the latest earlier write), and from each memory slot's new value (its output node) to
    the reads of the slot's value on entry, which see it at the next step."""
    graph = nx.DiGraph()
    graph.add_nodes_from(range(len(program.body)))
    graph.add_nodes_from(output_node(k) for k in range(len(program.outputs)))
    latest: dict[str, Node] = {slot: output_node(1 + k) for k, slot in enumerate(program.memory)}
    for i, ins in enumerate(program.body):
        graph.add_edges_from((latest[a], i) for a in ins.args if isinstance(a, str) and a in latest)
        latest[ins.dst] = i
    graph.add_edges_from((latest[a], output_node(k)) for k, a in enumerate(program.outputs)
                         if isinstance(a, str) and a in latest)
    return graph


def _live(program: Program) -> set[Node]:
    """The nodes from which the update or the evaluation weights are reachable, across steps
    (those outputs included)."""
    graph = dataflow_graph(program)
    ends = [output_node(0)] + ([output_node(len(program.outputs) - 1)] if program.has_eval else [])
    return set(ends).union(*(nx.ancestors(graph, end) for end in ends))


def dead_instructions(program: Program) -> set[int]:
    """Indices of the instructions from which the update is not reachable, across steps."""
    return set(range(len(program.body))) - _live(program)


@functools.lru_cache(maxsize=4096)
def live_reads(program: Program) -> frozenset[str]:
    """The names that instructions from which the update is reachable read (the checks that
    ask whether a program reads T or a tensor's facts ask it of every child, some twice)."""
    dead = dead_instructions(program)
    return frozenset(a for i, ins in enumerate(program.body) if i not in dead
                     for a in ins.args if isinstance(a, str))


def dead_slots(program: Program) -> set[str]:
    """Memory slots whose new value never reaches the update (at this step or a later one)."""
    live = _live(program)
    return {slot for k, slot in enumerate(program.memory) if output_node(1 + k) not in live}


def remove_dead(program: Program) -> Program:
    """The normalized program without its dead instructions and dead memory slots."""
    live = _live(program)
    kept = [k for k in range(len(program.memory)) if output_node(1 + k) in live]
    return normalize(Program(
        program.name, tuple(program.memory[k] for k in kept),
        tuple(ins for i, ins in enumerate(program.body) if i in live),
        program.with_eval((program.outputs[0],) + tuple(program.outputs[1 + k] for k in kept)),
        program.doc))
