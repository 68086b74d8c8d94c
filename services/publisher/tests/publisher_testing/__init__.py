"""Test twins of what the publisher calls outside (importable by its tests: pytest's ``pythonpath``)."""
