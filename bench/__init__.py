"""Benchmarks of llmhub (``make bench``): ``run`` orchestrates ``datagen`` (data sets), ``load``
(HTTP load client), ``postgres`` (the baseline) and ``ingest``; ``targets`` judges the results,
``report`` and ``plots`` write them; ``common`` holds what they share."""
