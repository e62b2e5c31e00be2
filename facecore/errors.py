"""User-facing errors.

A ``UserInputError`` is raised for mistakes a person can fix (a missing file, an
unknown source name, a corrupt image). The CLIs turn it into one line on stderr
and a non-zero exit, never a traceback; library callers get an ordinary
exception they can catch. Everything else is a bug and is allowed to fail loudly.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """Bad input from the user: the message names the thing and what to do."""


class ShardVerificationError(UserInputError):
    """A shard on disk does not match the manifest that describes it."""
