"""Versioned price catalog and the exact cost of a call."""

from core.pricing.catalog import Price, PriceCatalog, load_catalog

__all__ = ["Price", "PriceCatalog", "load_catalog"]
