"""``llmhub-admin sql``, ``export-logs`` and ``statements`` run as a user runs them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.synthetic import EventFactory
from tests import oracle
from tests.conftest import Api
from tests.integration.test_clis import run


async def test_sql_export_and_statements_from_the_command_line(api: Api, tmp_path: Path) -> None:
    key = await api.new_client("cli-co")
    end = datetime.now(UTC)
    events = list(EventFactory(seed=9).month({"cli-co": 120}, end - timedelta(hours=6), end))
    assert (await api.import_events(events))["inserted"] == 120
    # As one word: a random token may start with "-", which argparse takes for an option.
    admin = ("cli.admin", "--url", api.base_url, f"--token={api.admin_token}")

    code, out, err = await run(
        *admin, "sql", "--format", "csv", "SELECT sum(cost_usd) AS c FROM generations"
    )
    assert code == 0, err
    assert out.splitlines() == ['"c"', oracle.totals(events)["cost_usd"]]
    code, _, err = await run(*admin, "sql", "DROP TABLE generations")
    assert code == 1 and "READONLY" in err

    target = tmp_path / "calls.csv"
    start = (end - timedelta(days=1)).isoformat()
    code, _, err = await run(
        "cli.admin",
        "--url",
        api.base_url,
        "export-logs",
        "--api-key",
        key,
        "--start",
        start,
        "-o",
        str(target),
    )
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(target.read_text())))
    assert sorted(r["log_id"] for r in rows) == sorted(e["event_id"] for e in events)
    code, _, err = await run("cli.admin", "--url", api.base_url, "export-logs", "--api-key", "nope")
    assert code == 1 and "401" in err

    month = end.strftime("%Y-%m")
    code, out, err = await run(*admin, "statements", month, "--format", "csv")
    assert code == 0, err
    total = next(r for r in csv.DictReader(io.StringIO(out)) if r["section"] == "total")
    assert (
        total["amount_usd"]
        == oracle.totals([e for e in events if e["occurred_at"][:7] == month])["cost_usd"]
    )
