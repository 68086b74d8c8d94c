"""pytest plugin (entry point ``pytest11``): a session-wide DS emulator.

- ``ds_emulator``: started once per session (lazily, only when a test asks for it), stopped at the end.
- ``ds_emulator_fresh``: the same process, reset (state and faults) before the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ds_emulator.process import EmulatorProcess


@pytest.fixture(scope="session")
def ds_emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as emulator:
        yield emulator


@pytest.fixture
def ds_emulator_fresh(ds_emulator: EmulatorProcess) -> Iterator[EmulatorProcess]:
    ds_emulator.reset()
    yield ds_emulator
    ds_emulator.clear_faults()
