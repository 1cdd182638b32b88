"""Typed errors for the mistakes a user can make.

The CLI turns any :class:`PeprError` into one line on stderr and a non-zero exit code; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib.util

#: The command that adds the training side (torch, torchvision, timm, medmnist, carbontracker,
#: Dask) to the book-only install; :class:`MissingDependencyError` messages end with it.
TRAIN_INSTALL = "pip install -e '.[train]'"

#: The modules without which nothing trains: the book-only install leaves them out.
TRAINING_MODULES: tuple[str, ...] = ("torch", "timm")


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


class StudyBusyError(PeprError, RuntimeError):
    """A sweep of a study that another sweep is running (:func:`pepr.core.locks.study_lock`)."""


class MissingDependencyError(PeprError, ImportError):
    """A part of the training side (training, sweeps, advice, measuring the zoo, a model name
    outside the zoo) asked for in an install without it: the message names what is missing and
    the command that adds it (:data:`TRAIN_INSTALL`)."""


def missing_modules(modules: tuple[str, ...] = TRAINING_MODULES) -> list[str]:
    """The ``modules`` that cannot be imported here (found without importing them)."""
    missing = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a finder that refuses it, a half-imported module
            found = False
        if not found:
            missing.append(name)
    return missing


def require_training_stack(feature: str, modules: tuple[str, ...] = TRAINING_MODULES) -> None:
    """Raise :class:`MissingDependencyError` when ``feature`` (``"pepr run"``, ...) cannot work
    because one of ``modules`` is not installed, before anything starts."""
    missing = missing_modules(modules)
    if missing:
        raise MissingDependencyError(
            f"{feature} needs {' and '.join(missing)}, which the book-only install leaves out; "
            f"add the training side with `{TRAIN_INSTALL}`"
        )


class DataWarning(UserWarning):
    """A decision taken about a user's data that changes what is read: a file converted to
    another colour mode, images resized or stretched, files skipped. One line each (the command
    line prints it as ``pepr: note: ...``); silence them with
    ``warnings.filterwarnings("ignore", category=DataWarning)``, or make them errors with
    ``-W error::pepr.core.errors.DataWarning``."""



class DataLossWarning(DataWarning):
    """Something that was on disk could not be read and is left out (a torn line of a results
    table): the command line prints it as ``pepr: warning: ...``, naming what was lost."""