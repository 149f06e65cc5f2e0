"""The layer rules of docs/architecture.md hold: import-linter checks every contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_layer_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    # Every contract of pyproject.toml ran (a renamed package must not silently check nothing).
    assert "3 kept, 0 broken" in done.stdout, done.stdout


def test_a_broken_rule_is_caught(tmp_path: Path) -> None:
    # The same contracts on a copy where the API imports the ingest side must fail.
    for package in ("cli", "query_api", "ingest", "notify", "storage", "core", "schemas"):
        subprocess.run(["cp", "-r", str(ROOT / package), str(tmp_path)], check=True)
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    bad = tmp_path / "query_api" / "bad.py"
    bad.write_text("import ingest.sink\n")
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode != 0, done.stdout
    assert "query_api.bad -> ingest.sink" in done.stdout, done.stdout
