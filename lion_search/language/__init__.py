"""The program language: ops and their semantics, the IR, parser and printer, shapes, validation, program edits, seeds."""
