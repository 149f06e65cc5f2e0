"""``llmhub-admin``: manage clients, budgets, keys and dead letters, import events (admin API).

It talks HTTP to the running service (the embedded engine lets only that process open the data
directory). Settings: ``LLMHUB_API_URL`` (default http://127.0.0.1:8080) and
``LLMHUB_API_ADMIN_TOKEN``.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from cli import analytics
from cli.startup import cli_settings


class AdminClient:
    """Small synchronous client of the admin API (stdlib only, usable from scripts)."""

    def __init__(self, base_url: str, token: str, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        request = urllib.request.Request(  # noqa: S310 - URL comes from our own settings
            f"{self.base_url}/admin/v1{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/x-ndjson" if raw is not None else "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise SystemExit(f"{method} {path}: HTTP {exc.code}: {detail}") from exc

    def create_client(
        self,
        client_id: str,
        name: str,
        budget: str | None = None,
        thresholds: list[int] | None = None,
    ) -> Any:
        body: dict[str, Any] = {"client_id": client_id, "name": name}
        if budget is not None:
            body["monthly_budget_usd"] = budget
        if thresholds:
            body["alert_thresholds"] = thresholds
        return self.call("POST", "/clients", body)

    def issue_key(self, client_id: str, label: str = "") -> Any:
        return self.call("POST", f"/clients/{client_id}/keys", {"label": label})

    def import_jsonl(self, payload: bytes) -> Any:
        return self.call("POST", "/events/import", raw=payload)


def _print(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def main(argv: list[str] | None = None) -> int:
    settings = cli_settings()
    parser = argparse.ArgumentParser(prog="llmhub-admin", description=__doc__)
    parser.add_argument("--url", default=settings.api.base_url)
    parser.add_argument("--token", default=settings.api.admin_token_text)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("create-client", help="create a client")
    p.add_argument("client_id")
    p.add_argument("--name", required=True)
    p.add_argument("--budget", help="monthly budget in USD")
    p.add_argument("--thresholds", help="alert thresholds in percent, e.g. 50,80,100")
    sub.add_parser("list-clients", help="list clients")
    p = sub.add_parser("set-budget", help="set (or --clear) a client's monthly budget")
    p.add_argument("client_id")
    p.add_argument("budget", nargs="?")
    p.add_argument("--clear", action="store_true")
    p.add_argument("--thresholds")
    p = sub.add_parser("issue-key", help="issue an API key (printed once)")
    p.add_argument("client_id")
    p.add_argument("--label", default="")
    p = sub.add_parser("list-keys", help="list a client's keys (never the secrets)")
    p.add_argument("client_id")
    p = sub.add_parser("revoke-key", help="revoke a key by key_id")
    p.add_argument("key_id")
    p = sub.add_parser("import", help="import events from a JSON Lines file ('-' for stdin)")
    p.add_argument("file")
    for name, text in (
        ("dead-letters", "list dead letters, newest first"),
        ("dead-letter-counts", "count dead letters by reason, client and status"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--reason")
        p.add_argument("--client", dest="client_id")
        p.add_argument("--status", default="open", help="open, replayed, discarded or any")
        if name == "dead-letters":
            p.add_argument("--limit", type=int, default=100)
            p.add_argument("--offset", type=int, default=0)
    for name, text in (
        ("replay-dead-letters", "send open dead letters back to the generations topic"),
        ("discard-dead-letters", "mark open dead letters discarded"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--reason")
        p.add_argument("--client", dest="client_id")
        p.add_argument(
            "--key",
            action="append",
            dest="keys",
            help="TOPIC:PARTITION:OFFSET:INDEX of one dead letter (repeatable)",
        )
    analytics.add_commands(sub, settings)
    args = parser.parse_args(argv)

    if args.command in ("export-logs", "export-usage"):
        return analytics.run(args, args.url.rstrip("/"), args.token)
    if not args.token:
        parser.error("admin token needed: --token or LLMHUB_API_ADMIN_TOKEN")
    if args.command in analytics.COMMANDS:
        return analytics.run(args, args.url.rstrip("/"), args.token)
    api = AdminClient(args.url, args.token)
    thresholds = (
        [int(t) for t in args.thresholds.split(",")] if getattr(args, "thresholds", None) else None
    )
    if args.command == "create-client":
        _print(api.create_client(args.client_id, args.name, args.budget, thresholds))
    elif args.command == "list-clients":
        _print(api.call("GET", "/clients"))
    elif args.command == "set-budget":
        body: dict[str, Any] = {}
        if args.clear:
            body["monthly_budget_usd"] = None
        elif args.budget is not None:
            body["monthly_budget_usd"] = args.budget
        if thresholds:
            body["alert_thresholds"] = thresholds
        _print(api.call("PATCH", f"/clients/{args.client_id}", body))
    elif args.command == "issue-key":
        _print(api.issue_key(args.client_id, args.label))
    elif args.command == "list-keys":
        _print(api.call("GET", f"/clients/{args.client_id}/keys"))
    elif args.command == "revoke-key":
        _print(api.call("DELETE", f"/keys/{args.key_id}"))
    elif args.command == "import":
        payload = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
        _print(api.import_jsonl(payload))
    elif args.command in ("dead-letters", "dead-letter-counts"):
        query = {
            k: v
            for k, v in vars(args).items()
            if k in ("reason", "client_id", "status", "limit", "offset") and v is not None
        }
        path = "/dead-letters" if args.command == "dead-letters" else "/dead-letters/counts"
        _print(api.call("GET", f"{path}?{urllib.parse.urlencode(query)}"))
    elif args.command in ("replay-dead-letters", "discard-dead-letters"):
        body = {k: getattr(args, k) for k in ("reason", "client_id") if getattr(args, k)}
        if args.keys:
            body["keys"] = [_dead_letter_key(k) for k in args.keys]
        action = "replay" if args.command.startswith("replay") else "discard"
        _print(api.call("POST", f"/dead-letters/{action}", body))
    return 0


def _dead_letter_key(text: str) -> list[Any]:
    """TOPIC:PARTITION:OFFSET:INDEX -> the API's key (the topic may itself hold ':')."""
    topic, partition, offset, index = text.rsplit(":", 3)
    return [topic, int(partition), int(offset), int(index)]


if __name__ == "__main__":
    sys.exit(main())
