"""What every command's ``--help`` and exit status share.

Exit codes a script can trust, the same for every ``llmhub-*`` command:
0 done; 1 the work failed (service unreachable, HTTP error, storage down); 2 usage or
configuration error (bad arguments, invalid ``LLMHUB_*`` settings).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

EXIT_CODES = "exit codes: 0 ok, 1 failure (service, broker or storage), 2 usage or configuration"


def parser(prog: str, doc: str | None, examples: str) -> argparse.ArgumentParser:
    """An ArgumentParser whose help shows the module doc, examples and the exit codes."""
    return argparse.ArgumentParser(
        prog=prog,
        description=doc,
        epilog=f"examples:\n{examples.rstrip()}\n\n{EXIT_CODES}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def emit_json(value: Any) -> None:
    """One JSON document on stdout (what ``--json`` prints)."""
    print(json.dumps(value, indent=2, default=str))


def fail(message: str, as_json: bool = False, **details: Any) -> int:
    """Report a failure (to stderr, or as JSON on stdout) and return EXIT_FAILURE."""
    if as_json:
        emit_json({"ok": False, "error": message, **details})
    else:
        print(f"error: {message}", file=sys.stderr)
    return EXIT_FAILURE


def run_check(
    probes: Sequence[tuple[str, Callable[[], object]]],
    as_json: bool,
    facts: dict[str, Any],
    summary: str,
) -> int:
    """A ``--check``: each (what, probe) in turn; the first that raises fails the check.

    On success prints ``summary`` (or, as JSON, ``ok`` with ``facts``) and returns EXIT_OK.
    """
    for what, probe in probes:
        try:
            probe()
        except Exception as exc:
            return fail(f"{what}: {exc}", as_json)
    if as_json:
        emit_json({"ok": True, **facts})
    else:
        print(summary)
    return EXIT_OK
