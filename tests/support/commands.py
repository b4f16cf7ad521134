"""Running a management command as a script sees it: exit status, stdout, stderr."""

import io

from django.core.management import CommandError, call_command


def run(*args: str) -> tuple[int, str, str]:
    """(exit status, stdout, stderr or the CommandError's message)."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), err.getvalue()
