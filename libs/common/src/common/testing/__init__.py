"""Test support shared by every package: pytest fixtures (``common.testing.fixtures``) and helpers."""
