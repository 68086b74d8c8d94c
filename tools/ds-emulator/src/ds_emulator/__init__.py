"""A fast, fault-injectable DolphinScheduler 3.3/3.4 emulator (REST + py4j gateway) for tests and benchmarks.

It follows ``shared/dolphin/CONTRACT.md``. Start it with :class:`EmulatorProcess` (or the ``ds-emulator`` console
script); the pytest plugin ``ds_emulator.pytest_plugin`` provides the ``ds_emulator`` session fixture.
"""

from ds_emulator.process import EmulatorProcess
from ds_emulator.server import DEFAULT_ACCESS_TOKEN, DEFAULT_GATEWAY_AUTH_TOKEN

__all__ = ["DEFAULT_ACCESS_TOKEN", "DEFAULT_GATEWAY_AUTH_TOKEN", "EmulatorProcess"]
