"""One clear message and a non-zero exit for every bad input, instead of a traceback from inside a library."""
import sys
from typing import Callable


class UserError(Exception):
    """A problem the user can fix (bad flag, missing file or folder); printed without a traceback."""


def run_cli(main: Callable[[], None]) -> None:
    """Run an entry point; a UserError becomes `error: <message>` on stderr and exit status 2."""
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
