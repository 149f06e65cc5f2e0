"""Write the generation event's JSON Schema to ``schemas/generation_event.schema.json``.

Producers validate against that file; a unit test keeps it equal to :func:`event_json_schema`.
Run ``python -m schemas.export`` after changing :class:`schemas.event.GenerationEvent`.
"""

from __future__ import annotations

import json
from pathlib import Path

from schemas.event import event_json_schema

SCHEMA_FILE = Path(__file__).resolve().parent / "generation_event.schema.json"


def render() -> str:
    """The file's exact text: stable key order, so a diff shows only real changes."""
    return json.dumps(event_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    SCHEMA_FILE.write_text(render(), "utf-8")
    print(f"wrote {SCHEMA_FILE}")


if __name__ == "__main__":
    main()
