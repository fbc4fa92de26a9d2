"""The one error type users see.

Every failure that is the user's to fix (a missing or corrupt file, a bad option, an unknown name) raises a
:class:`VisionbenchError` whose message is a single line: what is wrong, where (file or option), and the fix.
The CLI prints that line and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator

__all__ = ["VisionbenchError", "DataError", "ConfigError", "RunError", "suggest", "met_by_every_rank", "first_line"]


class VisionbenchError(Exception):
    """A user-facing error whose message is one line naming the file or option and the fix.

    ``every_rank`` (set by :func:`met_by_every_rank`): under torchrun every process meets this same error (the same
    options, the same code), so rank 0 alone reports it.
    """

    every_rank: bool = False


@contextlib.contextmanager
def met_by_every_rank() -> Iterator[None]:
    """Mark the :class:`VisionbenchError` raised inside as one that every process of a torchrun launch meets."""
    try:
        yield
    except VisionbenchError as exc:
        exc.every_rank = True
        raise


class DataError(VisionbenchError):
    """A data file or folder is missing, corrupt, or has the wrong structure."""


class ConfigError(VisionbenchError):
    """An option, hyper-parameter or name is invalid."""


class RunError(VisionbenchError):
    """A run directory is missing, not a run, or incompatible with the request."""


def suggest(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ' (did you mean: a, b?)' for close matches of ``name`` in ``choices``, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""


def first_line(why: object, limit: int | None = None) -> str:
    """The first line of an error (or of any message), at most ``limit`` characters; the type's name when it is
    empty. For the causes quoted inside a one-line error (a library's multi-line message, a traceback-like text)."""
    text = str(why).strip()
    return (text.splitlines()[0] if text else type(why).__name__)[:limit]
