"""``llmhub-admin`` commands for the numbers: read-only SQL, exports and monthly statements.

They stream what the service sends straight to a file (or stdout) with a progress bar on the
terminal, so a year of calls never sits in this process's memory either. Exports of a client's
own calls authenticate with that client's API key (``--api-key`` or ``LLMHUB_API_KEY``);
SQL and statements with the admin token.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import IO, Any

from tqdm import tqdm

from core.settings import Settings

COMMANDS = ("sql", "export-logs", "export-usage", "statement", "statements")
CHUNK = 256 * 1024

EXAMPLES = {
    "sql": 'llmhub-admin sql "SELECT provider, sum(cost_usd) FROM usage_hourly GROUP BY provider"',
    "export-logs": "llmhub-admin export-logs --start 2026-01-01 --end 2027-01-01 -o calls.csv",
    "export-usage": "llmhub-admin export-usage --group-by month --by provider,model -o usage.csv",
    "statement": "llmhub-admin statement acme 2026-10 --format csv",
    "statements": "llmhub-admin statements 2026-10 --format csv -o statements.csv",
}


def add_commands(sub: Any, settings: Settings) -> None:
    """Register the commands on ``llmhub-admin``'s subparsers."""

    def parser(name: str, help_text: str) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(
            name, help=help_text, description=help_text, epilog=f"example: {EXAMPLES[name]}"
        )
        return p

    def output(p: argparse.ArgumentParser) -> None:
        p.add_argument("-o", "--output", default="-", help="file to write ('-': stdout)")

    def client_key(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--api-key",
            default=settings.api.key.get_secret_value() if settings.api.key else "",
            help="the client's API key (default: LLMHUB_API_KEY)",
        )

    def period(p: argparse.ArgumentParser) -> None:
        p.add_argument("--start", help="inclusive start, ISO date or time (UTC if no offset)")
        p.add_argument("--end", help="exclusive end (default: now; start: 30 days before)")

    p = parser("sql", "run read-only SQL on the typed tables (time and result size limited)")
    p.add_argument("query", help="the SQL ('-': read it from stdin)")
    p.add_argument("--format", choices=("pretty", "csv", "tsv", "json"), default="pretty")
    output(p)

    p = parser("export-logs", "a client's calls of a period as CSV or JSON Lines, streamed")
    client_key(p)
    period(p)
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    p.add_argument("--provider")
    p.add_argument("--endpoint")
    p.add_argument("--success", choices=("true", "false"))
    output(p)

    p = parser("export-usage", "a client's usage buckets of a period as CSV or JSON Lines")
    client_key(p)
    period(p)
    p.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    p.add_argument("--group-by", choices=("hour", "day", "month"), default="day")
    p.add_argument("--by", help="split each bucket by provider,model,endpoint (any of them)")
    output(p)

    p = parser("statement", "one client's monthly statement (JSON or CSV)")
    p.add_argument("client_id")
    p.add_argument("month", help="YYYY-MM (UTC)")
    p.add_argument("--format", choices=("json", "csv"), default="json")
    output(p)

    p = parser("statements", "every client's monthly statement (JSON Lines or CSV), streamed")
    p.add_argument("month", help="YYYY-MM (UTC)")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    output(p)


@contextlib.contextmanager
def _open(
    url: str, headers: dict[str, str], body: bytes | None = None, timeout: float = 600
) -> Iterator[Any]:
    request = urllib.request.Request(  # noqa: S310 - URL comes from our own settings
        url, data=body, method="POST" if body is not None else "GET", headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            yield response
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError):
            detail = json.dumps(json.loads(detail)["detail"], indent=1)
        raise SystemExit(f"HTTP {exc.code}: {detail}") from exc
    except urllib.error.URLError as exc:
        raise SystemExit(f"cannot reach {url}: {exc.reason}") from exc


@contextlib.contextmanager
def _target(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdout.buffer
        return
    with open(path, "wb") as f:
        yield f


def _copy(response: Any, out: IO[bytes], rows: int | None, what: str, header: bool = False) -> int:
    """Copy the body to ``out``; the bar counts rows (lines, less a CSV header) when the total
    is known, else bytes."""
    written = 0
    unit, total = ("rows", rows) if rows is not None else ("B", None)
    with tqdm(total=total, unit=unit, unit_scale=True, desc=what, file=sys.stderr) as bar:
        header_skipped = not header
        while chunk := response.read(CHUNK):
            out.write(chunk)
            written += len(chunk)
            if unit == "B":
                bar.update(len(chunk))
                continue
            lines = chunk.count(b"\n")
            if not header_skipped and lines:
                header_skipped, lines = True, lines - 1
            bar.update(lines)
    out.flush()
    return written


def _query(**values: str | None) -> str:
    return urllib.parse.urlencode({k: v for k, v in values.items() if v})


def run(args: argparse.Namespace, base_url: str, token: str) -> int:
    admin = {"Authorization": f"Bearer {token}"}
    cmd = args.command
    if cmd == "sql":
        query = sys.stdin.read() if args.query == "-" else args.query
        body = json.dumps({"sql": query, "format": args.format}).encode()
        headers = {**admin, "Content-Type": "application/json"}
        with _open(f"{base_url}/admin/v1/sql", headers, body) as r, _target(args.output) as out:
            out.write(r.read())
        return 0
    if cmd in ("export-logs", "export-usage"):
        if not args.api_key:
            raise SystemExit("a client API key is needed: --api-key or LLMHUB_API_KEY")
        common = {"start_date": args.start, "end_date": args.end, "format": args.format}
        if cmd == "export-logs":
            path = "logs"
            q = _query(
                **common, provider=args.provider, endpoint=args.endpoint, success=args.success
            )
        else:
            path = "usage"
            q = _query(**common, group_by=args.group_by, by=args.by)
        url = f"{base_url}/api/v1/llm/billing/exports/{path}?{q}"
        with _open(url, {"x-api-key": args.api_key}) as r, _target(args.output) as out:
            total = r.headers.get("X-Total-Rows")
            rows = int(total) if total is not None else None
            _copy(r, out, rows, path, header=args.format == "csv")
        return 0
    if cmd == "statement":
        url = f"{base_url}/admin/v1/clients/{args.client_id}/statements/{args.month}"
    else:
        url = f"{base_url}/admin/v1/statements/{args.month}"
    with _open(f"{url}?format={args.format}", admin) as r, _target(args.output) as out:
        _copy(r, out, None, "statements")
    return 0
