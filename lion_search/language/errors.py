"""The project's exceptions: one base class, so the CLI can print any of them as one line."""


class LionSearchError(Exception):
    """Base class of every error lion-search reports to a user (printed as one line, exit 2)."""


class ProgramError(LionSearchError):
    """Program text that is not in the program language, or a program that breaks its rules."""


class TaskError(LionSearchError):
    """An unknown proxy task or schedule, or bad task options."""


class RunError(LionSearchError):
    """A run folder that cannot be created, read or resumed."""


class JournalDamaged(RunError):
    """A run journal whose file is damaged (SQLite reads it as malformed or not a database);
    `lion-search salvage RUN` copies its readable rows into a new run folder."""


class DiskFull(RunError):
    """A run journal write the disk had no room for (SQLITE_FULL, ENOSPC); what was committed
    before it is kept, and the command can be run again once space is freed."""
