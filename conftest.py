"""Root pytest configuration: shared fixture plugins for every package's tests."""

pytest_plugins = [
    "devstack.pytest_plugin",
    "common.testing.fixtures",
]
