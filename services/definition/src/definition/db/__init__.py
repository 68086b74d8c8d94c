"""Persistence of the definition service: tables (``tables``) and every query (``repository``)."""
