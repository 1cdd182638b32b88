"""Typed errors for the mistakes a user can make.

The CLI turns any :class:`PeprError` into one line on stderr and a non-zero exit code; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations


class PeprError(Exception):
    """Base class of every error that is the user's to fix (bad input, missing data)."""


class UnknownModelError(PeprError, KeyError):
    """A model name that neither the zoo nor timm knows."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnknownDatasetError(PeprError, KeyError):
    """A dataset name that is not registered."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class UnknownStudyError(PeprError, KeyError):
    """A study name with no results table."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class EmptyStudyError(PeprError, ValueError):
    """A study whose results table exists but holds no run yet."""


class NotebookError(PeprError, RuntimeError):
    """A notebook (a study's report) raised while it ran. Keeps what papermill knew: the
    exception's name and value, the cell of the executed copy, and where that copy is."""

    def __init__(self, message: str, ename: str | None = None, evalue: str | None = None,
                 cell_index: int | None = None, notebook: str | None = None) -> None:
        super().__init__(message)
        self.ename, self.evalue, self.cell_index, self.notebook = ename, evalue, cell_index, notebook


class MissingDataError(PeprError, FileNotFoundError):
    """A data file that is neither on disk nor downloadable from here."""


class ChecksumError(PeprError, ValueError):
    """A data file whose hash differs from the registered one (tampered, truncated, wrong version)."""


class CorruptDataError(PeprError, ValueError):
    """A data file that exists but cannot be read as what it claims to be."""


class StudySpecError(PeprError, ValueError):
    """A study specification (YAML) with an unknown key or a bad value."""


class BadParameterError(PeprError, ValueError):
    """A parameter outside its domain (negative epochs, data fraction above 1, ...)."""


class IncompatibleInputError(PeprError, ValueError):
    """A model that cannot take the requested input size or channel count."""


class ResultsNotWritableError(PeprError, PermissionError):
    """A results (or outputs) folder where rows cannot be written: found before training."""


class DataWarning(UserWarning):
    """A decision taken about a user's data that changes what is read: a file converted to
    another colour mode, images resized or stretched, files skipped. One line each (the command
    line prints it as ``pepr: note: ...``); silence them with
    ``warnings.filterwarnings("ignore", category=DataWarning)``, or make them errors with
    ``-W error::pepr.errors.DataWarning``."""
