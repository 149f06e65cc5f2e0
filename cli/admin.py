"""``llmhub-admin``: manage clients, budgets, keys, alert webhooks and dead letters, and
import events, via the admin API.

It talks HTTP to the running service (the embedded engine lets only that process open the data
directory). Settings: ``LLMHUB_API_URL`` (default http://127.0.0.1:8080) and
``LLMHUB_API_ADMIN_TOKEN``. Every answer is printed as JSON on stdout (for scripts); progress
and errors go to stderr.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson
from tqdm import tqdm

from cli import analytics
from cli.args import EXIT_FAILURE, EXIT_OK, emit_json, parser
from cli.startup import cli_settings

EXAMPLES = """\
  export LLMHUB_API_ADMIN_TOKEN=$(cat .data/admin-token)
  llmhub-admin create-client acme --name "Acme" --budget 500 --thresholds 50,80,100
  llmhub-admin issue-key acme --label backend       # the key is printed once
  llmhub-admin set-budget acme 750
  llmhub-admin set-webhook acme https://hooks.acme.example/llmhub   # prints the secret
  llmhub-admin deliveries acme                      # budget alerts sent and their status
  llmhub-admin import events.jsonl                  # progress bar on stderr, counts as JSON
  llmhub-admin list-clients | jq -r '.clients[].client_id'"""

CHUNK = 1 << 20


class AdminError(Exception):
    """The service answered with an error or could not be reached."""


class AdminClient:
    """Small synchronous client of the admin API (stdlib only, usable from scripts)."""

    def __init__(self, base_url: str, token: str, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        raw: bytes | Iterable[bytes] | None = None,
        length: int | None = None,
    ) -> Any:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Content-Type": "application/x-ndjson" if raw is not None else "application/json",
        }
        if length is not None:
            headers["Content-Length"] = str(length)
        request = urllib.request.Request(  # noqa: S310 - URL comes from our own settings
            f"{self.base_url}/admin/v1{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                return orjson.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise AdminError(f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AdminError(f"cannot reach {self.base_url}: {reason}") from exc

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

    def import_jsonl(self, payload: bytes | Iterable[bytes], length: int | None = None) -> Any:
        return self.call("POST", "/events/import", raw=payload, length=length)


def _chunks(stream: IO[bytes], bar: tqdm) -> Iterator[bytes]:
    # The service reads the upload line by line as it stores it, so the bar follows its work.
    while chunk := stream.read(CHUNK):
        bar.update(len(chunk))
        yield chunk


def import_file(api: AdminClient, file: str) -> Any:
    """Stream a JSON Lines file (or stdin) to the import endpoint with a progress bar."""
    stream = sys.stdin.buffer if file == "-" else Path(file).open("rb")  # noqa: SIM115
    size = None if file == "-" else os.fstat(stream.fileno()).st_size
    try:
        with tqdm(
            total=size, unit="B", unit_scale=True, desc="import", file=sys.stderr, disable=None
        ) as bar:
            return api.import_jsonl(_chunks(stream, bar), length=size)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def main(argv: list[str] | None = None) -> int:
    settings = cli_settings()
    p0 = parser("llmhub-admin", __doc__, EXAMPLES)
    p0.add_argument("--url", default=settings.api.base_url, help="service URL (LLMHUB_API_URL)")
    p0.add_argument(
        "--token", default=settings.api.admin_token_text, help="(LLMHUB_API_ADMIN_TOKEN)"
    )
    sub = p0.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("create-client", help="create a client")
    p.add_argument("client_id")
    p.add_argument("--name", required=True)
    p.add_argument("--budget", help="monthly budget in USD, e.g. 500 or 12.5")
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
    p = sub.add_parser(
        "set-webhook", help="set a client's budget alert webhook (prints the signing secret)"
    )
    p.add_argument("client_id")
    # Not "url": that is the service's URL (--url) in the same namespace.
    p.add_argument("webhook_url", metavar="URL")
    p.add_argument("--secret", help="signing secret (default: a new random one)")
    p = sub.add_parser("get-webhook", help="a client's webhook URL (secret hidden)")
    p.add_argument("client_id")
    p = sub.add_parser("delete-webhook", help="stop sending a client's budget alerts")
    p.add_argument("client_id")
    p = sub.add_parser("deliveries", help="a client's budget alerts and their delivery status")
    p.add_argument("client_id")
    args = p0.parse_args(argv)

    if args.command in ("export-logs", "export-usage"):
        return analytics.run(args, args.url.rstrip("/"), args.token)
    if not args.token:
        p0.error("admin token needed: --token or LLMHUB_API_ADMIN_TOKEN")
    if args.command in analytics.COMMANDS:
        return analytics.run(args, args.url.rstrip("/"), args.token)
    thresholds = None
    if getattr(args, "thresholds", None):
        try:
            thresholds = [int(t) for t in args.thresholds.split(",")]
        except ValueError:
            p0.error(f"--thresholds: comma-separated whole percentages, not {args.thresholds!r}")
    api = AdminClient(args.url, args.token)
    try:
        emit_json(run(api, args, thresholds))
    except AdminError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def run(api: AdminClient, args: Any, thresholds: list[int] | None) -> Any:
    cid = getattr(args, "client_id", None) or ""
    match args.command:
        case "create-client":
            return api.create_client(cid, args.name, args.budget, thresholds)
        case "list-clients":
            return api.call("GET", "/clients")
        case "set-budget":
            body: dict[str, Any] = {}
            if args.clear:
                body["monthly_budget_usd"] = None
            elif args.budget is not None:
                body["monthly_budget_usd"] = args.budget
            if thresholds:
                body["alert_thresholds"] = thresholds
            return api.call("PATCH", f"/clients/{cid}", body)
        case "issue-key":
            return api.issue_key(cid, args.label)
        case "list-keys":
            return api.call("GET", f"/clients/{cid}/keys")
        case "revoke-key":
            return api.call("DELETE", f"/keys/{args.key_id}")
        case "import":
            return import_file(api, args.file)
        case "set-webhook":
            hook: dict[str, Any] = {"url": args.webhook_url}
            if args.secret:
                hook["secret"] = args.secret
            return api.call("PUT", f"/clients/{cid}/webhook", hook)
        case "get-webhook":
            return api.call("GET", f"/clients/{cid}/webhook")
        case "delete-webhook":
            return api.call("DELETE", f"/clients/{cid}/webhook")
        case "deliveries":
            return api.call("GET", f"/clients/{cid}/webhook/deliveries")
        case "dead-letters" | "dead-letter-counts":
            query = {
                k: v
                for k, v in vars(args).items()
                if k in ("reason", "client_id", "status", "limit", "offset") and v is not None
            }
            path = "/dead-letters" if args.command == "dead-letters" else "/dead-letters/counts"
            return api.call("GET", f"{path}?{urllib.parse.urlencode(query)}")
        case "replay-dead-letters" | "discard-dead-letters":
            dl: dict[str, Any] = {
                k: getattr(args, k) for k in ("reason", "client_id") if getattr(args, k)
            }
            if args.keys:
                dl["keys"] = [_dead_letter_key(k) for k in args.keys]
            action = "replay" if args.command.startswith("replay") else "discard"
            return api.call("POST", f"/dead-letters/{action}", dl)
    raise AssertionError(args.command)


def _dead_letter_key(text: str) -> list[Any]:
    """TOPIC:PARTITION:OFFSET:INDEX -> the API's key (the topic may itself hold ':')."""
    topic, partition, offset, index = text.rsplit(":", 3)
    return [topic, int(partition), int(offset), int(index)]


if __name__ == "__main__":
    sys.exit(main())
