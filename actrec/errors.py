"""How mistakes in what a user asked for reach them: one line, ``error: …``, naming the field, file or flag.

Config validation raises ``ValueError`` naming the dotted field; data checks raise ``FileNotFoundError`` /
``NotADirectoryError`` / ``ValueError`` naming the path; the sweep driver raises :class:`UsageError` for flags that
contradict each other or the stored state. :func:`user_errors` turns any of them (and a ``SystemExit`` carrying a
message) into that one line and exit status 2; ``--verbose`` adds the traceback.
"""

from __future__ import annotations

import contextlib
import sys
import traceback
from collections.abc import Iterator

EXIT_USAGE = 2  # argparse's status for a bad command line; the same for every other user mistake


class UsageError(Exception):
    """A flag, config value or stored state that cannot work as asked; the message names it and the fix."""


# Exceptions that mean "what the user asked for is wrong": config validation (ValueError naming the field) and data
# checks (a missing root, an unreadable index). Anything else is a bug and keeps its traceback.
USER_ERRORS: tuple[type[BaseException], ...] = (
    UsageError,
    ValueError,
    FileNotFoundError,
    FileExistsError,
    NotADirectoryError,
)


def one_line(message: object) -> str:
    """The message on one line (multi-line messages are joined with ' / ')."""
    return " / ".join(line.strip() for line in str(message).strip().splitlines() if line.strip())


@contextlib.contextmanager
def user_errors(*, verbose: bool = False, prog: str = "") -> Iterator[None]:
    """Inside: a user mistake prints ``[prog: ]error: <one line>`` on stderr and exits with status 2 (the traceback
    too when ``verbose``); a ``SystemExit`` with a text message is printed the same way."""
    prefix = f"{prog}: " if prog else ""
    try:
        yield
    except USER_ERRORS as err:
        if verbose:
            traceback.print_exc()
        print(f"{prefix}error: {one_line(err)}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    except SystemExit as done:
        if isinstance(done.code, str):
            print(f"{prefix}error: {one_line(done.code)}", file=sys.stderr)
            raise SystemExit(EXIT_USAGE) from None
        raise
