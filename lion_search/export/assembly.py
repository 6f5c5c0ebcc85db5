"""What the optax and torch modules share: the names of their parts, and the per-tensor
functions (`listing`, written by `writer`) with their docstrings."""
from __future__ import annotations

import keyword

from lion_search.export.listing import Function, Listing
from lion_search.export.writer import Writer
from lion_search.language.program import Program


def camel(name: str, taken: frozenset[str] = frozenset()) -> str:
    """`schedule_free_adamw` -> `ScheduleFreeAdamw`, clear of `taken` and of keywords."""
    name = "".join(part[:1].upper() + part[1:] for part in name.split("_")) or "Program"
    while name in taken or keyword.iskeyword(name):
        name += "_"
    return name


def step_name(program: Program, taken: frozenset[str]) -> str:
    """The name of the function that runs one step on a tensor: the program's, clear of the
    module's other names."""
    name = program.name
    while name in taken:
        name += "_step"
    return name


def signature(listing: Listing, function: Function) -> str:
    """The parameters of a per-tensor function: w, g, lr, t (T where the program reads it),
    the slots and the global values it takes."""
    head = ("w", "g", "lr", "t") + (("T",) if listing.reads("T") else ())
    return ", ".join(head + function.params)


def function_docs(listing: Listing) -> dict[str, str]:
    """The docstring of each per-tensor function."""
    names = ", ".join(listing.names[m] for m in listing.code.memory)
    evaluation = ", evaluation weights" if listing.program.has_eval else ""
    docs = {listing.step.name: f"One step on a tensor: (update{', ' * bool(names)}{names}"
                               f"{evaluation}); w <- w - update."}
    for function in listing.functions[:-1]:
        docs[function.name] = (f"The arguments of {', '.join(function.returns)} on a tensor, "
                               "at its shape.")
    if listing.slots_function is not None:
        docs[listing.slots_function.name] = (f"Zero slots ({names}) on tensor w, at the shapes "
                                             "it stores (size 0: none).")
    return docs


def module_functions_lines(listing: Listing, writer: Writer) -> list[list[str]]:
    """The per-tensor functions' lines, each function a list: slots, passes, step."""
    docs = function_docs(listing)
    out = []
    if listing.slots_function is not None:
        out.append(writer.function(listing.slots_function, "w",
                                   docs[listing.slots_function.name]))
    out += [writer.function(f, signature(listing, f), docs[f.name]) for f in listing.functions]
    return out
