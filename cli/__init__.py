"""Command-line entry points: where settings are read and the parts are wired together.

Every ``llmhub-*`` command lives here. This is the only package that may import both the API
(``query_api``) and the ingest side (``ingest``), and the only one that picks a storage engine.
"""
