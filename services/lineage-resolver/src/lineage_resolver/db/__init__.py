"""Persistence of the lineage-resolver: tables, the async repository and the sync ``LineageStore`` adapter."""
