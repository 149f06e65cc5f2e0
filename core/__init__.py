"""Shared code of llmhub: settings, ClickHouse access, pricing and the event write pipeline.

Everything under ``query_api/`` and ``ingest/`` builds on these modules; nothing here imports
from those two packages.
"""
