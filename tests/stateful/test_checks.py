"""The named checks of the lifecycle machine (``checks.py``) are the ones the machine uses."""

from __future__ import annotations

import re
from pathlib import Path

from .checks import CHECKS, PENDING_FIXES


def test_every_named_check_is_used_by_the_machine() -> None:
    source = (Path(__file__).parent / "machine.py").read_text()
    used = set(re.findall(r'enforced\("([a-z_]+)"\)', source))
    assert used == CHECKS.keys(), {"named but unused": CHECKS.keys() - used, "used but not named": used - CHECKS.keys()}
    assert CHECKS.keys() >= PENDING_FIXES
