"""A client generated from the served OpenAPI document by openapi-generator's python generator is
a BillingApi class with the seed's method names, and runs every example in the seed file against
the service, getting the data back.

The seed (``docs/contract/BillingApi.md``, a copy of ``shared/seed/BillingApi.md``) is the
documentation of the ``llmhub_generated`` client the users already have. The generated
documentation must be that file, and each of its examples, with the placeholders swapped for
real values, must print real data and no exception.
"""

from __future__ import annotations

import ast
import asyncio
import difflib
import hashlib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ingest.synthetic import EventFactory
from query_api import contract
from tests import oracle
from tests.conftest import Api

REPO_ROOT = Path(__file__).resolve().parents[2]
# The contract our users code against, kept in the repository; the original is the shared
# seed beside the checkout (CI lays a copy of it beside its clone).
SEED = REPO_ROOT / "docs" / "contract" / "BillingApi.md"
SHARED_SEED = REPO_ROOT.parent / "shared" / "seed" / "BillingApi.md"
PACKAGE = "llmhub_generated"
# The openapi-generator-cli wheel bundles the generator jar; it runs on the installed Java.
GENERATOR = Path(sys.executable).parent / "openapi-generator-cli"
CLIENT = "genco"
SUBPROCESS_TIMEOUT_S = 120
# The seed's placeholder datetime; the examples pass it as a string, as the seed writes it.
SEED_DATE = "'2013-10-20T19:20:30+01:00'"
PLUS_ONE = timezone(timedelta(hours=1))


def seed_text() -> str:
    return SEED.read_text("utf-8")


@pytest.mark.skipif(not SHARED_SEED.is_file(), reason="no shared/ folder beside this checkout")
def test_the_repository_copy_is_the_shared_seed() -> None:
    assert SEED.read_bytes() == SHARED_SEED.read_bytes()


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def seed_examples() -> dict[str, str]:
    """The ```python blocks of the seed, keyed by the BillingApi method each one calls."""
    examples: dict[str, str] = {}
    for block in re.findall(r"^```python\n(.*?)^```", seed_text(), re.DOTALL | re.MULTILINE):
        called = set(re.findall(r"api_instance\.(\w+)\(", block))
        assert len(called) == 1, f"an example should call one method, this one calls {called}"
        examples[called.pop()] = block
    return examples


async def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Run a program without blocking the event loop that serves the API; (exit code, output)."""
    proc = await asyncio.create_subprocess_exec(
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), SUBPROCESS_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode("utf-8", "replace")


async def run_python(code: str, package_dir: Path, cwd: Path) -> tuple[int, str]:
    """Run ``code`` with this interpreter and the generated package importable."""
    env = {**os.environ, "PYTHONPATH": str(package_dir), "PYTHONDONTWRITEBYTECODE": "1"}
    return await run(sys.executable, "-c", code, cwd=cwd, env=env)


class ClientGenerator:
    """Generates the python client of a spec once per session (per spec text)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    async def __call__(self, spec_text: str) -> Path:
        digest = hashlib.sha256(spec_text.encode()).hexdigest()[:16]
        out = self.root / digest
        if (out / PACKAGE / "__init__.py").is_file():
            return out
        if not GENERATOR.is_file():
            pytest.fail(f"{GENERATOR} missing: install the dev extras (openapi-generator-cli)")
        work = self.root / f"{digest}.work"
        work.mkdir(parents=True, exist_ok=True)
        spec = work / "spec.json"
        spec.write_text(spec_text, "utf-8")
        returncode, log = await run(
            str(GENERATOR),
            "generate",
            "-i",
            str(spec),
            "-g",
            "python",
            "-o",
            str(work / "out"),
            "--package-name",
            PACKAGE,
            cwd=work,
        )
        assert returncode == 0, f"openapi-generator failed:\n{log[-4000:]}"
        # Only a complete generation is cached.
        (work / "out").rename(out)
        return out


@pytest.fixture(scope="session")
def generator(tmp_path_factory: pytest.TempPathFactory) -> ClientGenerator:
    return ClientGenerator(tmp_path_factory.mktemp("generated-client"))


@pytest.fixture
async def generated(api: Api, generator: ClientGenerator) -> Path:
    """The client generated from the document this server serves: the folder holding it."""
    async with api.session.get(f"{api.base_url}/openapi.json") as response:
        assert response.status == 200
        spec_text = await response.text()
    return await generator(spec_text)


@dataclass
class Loaded:
    key: str
    events: list[dict[str, Any]]
    start: datetime  # window given to the examples with dates (in +01:00, as the seed writes)
    end: datetime

    def in_window(self) -> list[dict[str, Any]]:
        return [
            e for e in self.events if self.start <= oracle.parse_time(e["occurred_at"]) < self.end
        ]


@pytest.fixture
async def loaded(api: Api) -> Loaded:
    key = await api.new_client(CLIENT)
    factory = EventFactory(seed=23)
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    events = [
        # Before the window below (and mostly before the default 30 days).
        *factory.month({CLIENT: 60}, now - timedelta(days=70), now - timedelta(days=26)),
        # Within the last 30 days, so the endpoints' default period has data too.
        *factory.month({CLIENT: 200}, now - timedelta(days=20), now - timedelta(minutes=5)),
        # This month, whatever day it is.
        *factory.month({CLIENT: 40}, month_start, now),
    ]
    result = await api.import_events(events)
    assert result["inserted"] == len(events) and result["rejected"] == 0, result
    # Unlike the default period, the window leaves out the newest events: it must be applied.
    start = (now - timedelta(days=25)).replace(microsecond=0).astimezone(PLUS_ONE)
    end = (now - timedelta(days=10)).replace(microsecond=0).astimezone(PLUS_ONE)
    loaded = Loaded(key, events, start, end)
    last_30_days = [e for e in events if oracle.parse_time(e["occurred_at"]) >= now - timedelta(30)]
    assert 0 < len(loaded.in_window()) < len(last_30_days)
    return loaded


def _busiest_openai_endpoint(events: list[dict[str, Any]]) -> str:
    counts: Counter[str] = Counter(
        e["endpoint"] for e in events if e["provider"] == "openai" and e["success"]
    )
    return counts.most_common(1)[0][0]


def substitute(example: str, base_url: str, loaded: Loaded) -> str:
    """The seed example with its placeholders replaced by this server and this client's data."""
    log_event = loaded.events[-1]
    replacements = {
        '"http://localhost"': json.dumps(base_url),
        "'x_api_key_example'": repr(loaded.key),
        "'log_id_example'": repr(log_event["event_id"]),
        "'provider_example'": repr("openai"),
        "'endpoint_example'": repr(_busiest_openai_endpoint(loaded.events)),
    }
    code = example
    for placeholder, value in replacements.items():
        code = code.replace(placeholder, value)
    code = re.sub(
        rf"^(\s*start_date = ){re.escape(SEED_DATE)}",
        lambda m: m.group(1) + repr(loaded.start.isoformat()),
        code,
        flags=re.MULTILINE,
    )
    code = re.sub(
        rf"^(\s*end_date = ){re.escape(SEED_DATE)}",
        lambda m: m.group(1) + repr(loaded.end.isoformat()),
        code,
        flags=re.MULTILINE,
    )
    # A placeholder this test does not know would silently send nonsense: fail instead.
    assert '"http://localhost"' not in code, code
    assert "_example'" not in code, code
    assert "2013-10-20" not in code, code
    return code


def _printed(output: str, method: str) -> str:
    """What the example pprint-ed after its header line."""
    header = f"The response of BillingApi->{method}:\n"
    assert header in output, output
    return output.split(header, 1)[1].strip()


def _as_dict(printed: str) -> dict[str, Any]:
    body = ast.literal_eval(printed)
    assert isinstance(body, dict), printed
    return body


# One check per example, each on the data the example printed: it must be this client's data.
def _check_current_month(printed: str, loaded: Loaded) -> None:
    body = _as_dict(printed)
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    this_month = [e for e in loaded.events if oracle.parse_time(e["occurred_at"]) >= month_start]
    assert (body["client_id"], body["calls"], body["spend_usd"]) == (
        CLIENT,
        len(this_month),
        oracle.totals(this_month)["cost_usd"],
    )


def _check_logs(printed: str, loaded: Loaded) -> None:
    body = _as_dict(printed)
    endpoint = _busiest_openai_endpoint(loaded.events)
    wanted = [
        e
        for e in loaded.events
        if e["provider"] == "openai" and e["endpoint"] == endpoint and e["success"]
    ]
    assert body["total"] == len(wanted) > 0
    assert {i["log_id"] for i in body["items"]} == {e["event_id"] for e in wanted}


def _check_log_details(printed: str, loaded: Loaded) -> None:
    body = _as_dict(printed)
    event = loaded.events[-1]
    assert (body["log_id"], body["request_id"], body["input_tokens"]) == (
        event["event_id"],
        event["request_id"],
        event["input_tokens"],
    )


def _check_breakdown(key: str, name: str) -> Callable[[str, Loaded], None]:
    def check(printed: str, loaded: Loaded) -> None:
        body = _as_dict(printed)
        window = loaded.in_window()
        assert body["client_id"] == CLIENT
        oracle.assert_metrics(body["totals"], oracle.totals(window))
        assert {item[name] for item in body[key]} == {e[name] for e in window}

    return check


def _check_summary(printed: str, loaded: Loaded) -> None:
    # A typed UsageReportResponse: its repr, not a literal. Its totals are this client's window.
    window = loaded.in_window()
    expected = oracle.totals(window)
    assert printed.startswith(f"UsageReportResponse(client_id='{CLIENT}'"), printed[:300]
    totals = re.search(r"totals=UsageMetrics\((.*?)\)", printed)
    assert totals is not None, printed[:2000]
    assert f"calls={expected['calls']}," in totals.group(1)
    assert f"cost_usd='{expected['cost_usd']}'" in totals.group(1)


CHECKS: dict[str, Callable[[str, Loaded], None]] = {
    contract.CURRENT_MONTH.operation_id: _check_current_month,
    contract.LOGS.operation_id: _check_logs,
    contract.LOG_DETAILS.operation_id: _check_log_details,
    contract.BY_ENDPOINT.operation_id: _check_breakdown("endpoints", "endpoint"),
    contract.BY_PROVIDER.operation_id: _check_breakdown("providers", "provider"),
    contract.SUMMARY.operation_id: _check_summary,
}


async def test_generated_docs_are_the_seed(generated: Path) -> None:
    produced = _lines((generated / "docs" / "BillingApi.md").read_text("utf-8"))
    seed = _lines(seed_text())
    diff = "\n".join(
        difflib.unified_diff(seed, produced, "seed/BillingApi.md", "generated", lineterm="")
    )
    assert produced == seed, f"generated docs differ from the seed:\n{diff}"


def test_seed_examples_cover_every_operation() -> None:
    assert set(seed_examples()) == {op.operation_id for op in contract.OPERATIONS}


@pytest.mark.parametrize("method", sorted(CHECKS))
async def test_seed_example_runs_and_gets_data(
    api: Api, generated: Path, loaded: Loaded, method: str, tmp_path: Path
) -> None:
    code = substitute(seed_examples()[method], api.base_url, loaded)
    returncode, output = await run_python(code, generated, tmp_path)
    assert returncode == 0, output
    assert "Exception when calling" not in output, output
    CHECKS[method](_printed(output, method), loaded)


_ERRORS_SCRIPT = """
import json
import llmhub_generated
from llmhub_generated.rest import ApiException

KEY, HOST = {key!r}, {host!r}
calls = {{
    "group_by": lambda api: api.get_usage_summary_api_v1_llm_billing_usage_summary_get(
        KEY, group_by="week"),
    "limit": lambda api: api.get_generation_logs_api_v1_llm_billing_logs_get(KEY, limit=0),
    "log_id": lambda api: api.get_log_details_api_v1_llm_billing_logs_log_id_get(
        "not-a-uuid", KEY),
    "period": lambda api: api.get_usage_by_provider_api_v1_llm_billing_usage_by_provider_get(
        KEY, start_date="2026-03-02T00:00:00+01:00", end_date="2026-03-01T00:00:00Z"),
    "bad_key": lambda api: api.get_current_month_usage_api_v1_llm_billing_usage_current_month_get(
        "not-a-key"),
}}
results = {{}}
with llmhub_generated.ApiClient(llmhub_generated.Configuration(host=HOST)) as client:
    api = llmhub_generated.BillingApi(client)
    for name, call in calls.items():
        try:
            call(api)
        except ApiException as exc:
            results[name] = {{
                "status": exc.status,
                "class": type(exc).__name__,
                "body": json.loads(exc.body),
            }}
        except ValueError as exc:  # refused by the client itself (bounds in the document)
            results[name] = {{"status": None, "class": type(exc).__name__}}
        else:
            results[name] = {{"status": None}}
print(json.dumps(results))
"""


async def test_generated_client_surfaces_validation_errors(
    api: Api, generated: Path, tmp_path: Path
) -> None:
    key = await api.new_client(CLIENT)
    code = _ERRORS_SCRIPT.format(key=key, host=api.base_url)
    returncode, output = await run_python(code, generated, tmp_path)
    assert returncode == 0, output
    results = json.loads(output.strip().splitlines()[-1])
    # The document declares limit's bounds, so the generated client refuses limit=0 itself.
    assert results["limit"] == {"status": None, "class": "ValidationError"}, results["limit"]
    for name, loc in {
        "group_by": ["query", "group_by"],
        "period": ["query", "end_date"],
    }.items():
        result = results[name]
        assert (result["status"], result["class"]) == (422, "UnprocessableEntityException"), result
        assert [e["loc"] for e in result["body"]["detail"]] == [loc], result
    assert results["bad_key"]["status"] == 401, results["bad_key"]
    # A log id of any shape that names no call of this client: 404, as for any unknown id.
    assert results["log_id"] == {
        "status": 404,
        "class": "NotFoundException",
        "body": {"detail": "Not Found"},
    }
