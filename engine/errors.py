"""The errors a user reads as they are, and :func:`describe`, the one sentence shown for any error.

Light on purpose (no torch): the GUI imports it before the engine has loaded.
"""
from __future__ import annotations


class DatasetUnavailable(RuntimeError):
    """The dataset is not on this machine; the message says, in one sentence, where to put it."""


class CheckpointError(ValueError):
    """The file or folder is not a loadable Pretext checkpoint or run; the message says why."""


class Cancelled(Exception):
    """A long computation (loading a dataset, an embedding, a layout) stopped because its ``cancelled()`` callback
    said so."""


class PeerLost(RuntimeError):
    """Another process of a multi-process (torchrun) run died or stopped answering; the message says so."""


def describe(error: BaseException) -> str:
    """The sentence a user sees: expected problems (bad settings, files and data: ValueError and its kin, a missing
    dataset, a diverged run, a lost peer process) speak for themselves; anything else names its type."""
    if isinstance(error, (ValueError, DatasetUnavailable, FloatingPointError, PeerLost)):
        return str(error)
    return f"{type(error).__name__}: {error}"
