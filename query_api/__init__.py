"""The billing API: aiohttp service answering the seed's six endpoints, plus admin and ingest."""
