"""The fault suite: real broker, real worker processes, real engine, faults injected.

``python -m tests.faults`` (``make reliability``) runs every scenario at full size and writes
docs/reliability.md; ``tests/integration/test_faults.py`` runs the same scenarios small in
``make test``. Each scenario ends with an exact ledger of what was sent against what is stored.
"""
