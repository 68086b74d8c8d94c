"""The lifecycle, model-based: hypothesis drives the running platform through the gateway (``machine.py``) and
checks it against a model after every step; a failure shrinks to a minimal sequence of steps.

Budgets (hypothesis profiles, chosen with ``STATEFUL_PROFILE``):

* ``stateful-ci`` (default): a bounded, derandomized run (the same sequences on every run, no example database)
  that finishes within a few minutes on a 2-core machine;
* ``stateful-soak``: random sequences for as long as you give it, failures kept in the example database
  (``.hypothesis/``) and replayed first next time.

``STATEFUL_EXAMPLES`` and ``STATEFUL_STEPS`` override the profile's number of examples and steps per example,
``STATEFUL_VERBOSE=1`` prints every step as it runs, ``STATEFUL_SHRINK_S`` gives the shrinker more than hypothesis'
5 minutes;
``STATEFUL_ENFORCE`` runs checks that wait for a fix (``checks.py``). See CONTRIBUTING.md "The lifecycle state
machine".
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.stateful import run_state_machine_as_test

from .checks import FORCED, PENDING_FIXES
from .driver import LifecycleStack
from .machine import machine_for

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "stateful-ci",
    max_examples=25,
    stateful_step_count=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=_QUIET,
    print_blob=True,
)
settings.register_profile(
    "stateful-soak",
    max_examples=300,
    stateful_step_count=60,
    derandomize=False,
    deadline=None,
    suppress_health_check=_QUIET,
    print_blob=True,
    phases=[Phase.reuse, Phase.generate, Phase.shrink, Phase.explain],
)

PROFILE = os.environ.get("STATEFUL_PROFILE", "stateful-ci")


def _settings() -> settings:
    base = settings.get_profile(PROFILE)
    overrides: dict[str, object] = {}
    if os.environ.get("STATEFUL_EXAMPLES"):
        overrides["max_examples"] = int(os.environ["STATEFUL_EXAMPLES"])
    if os.environ.get("STATEFUL_STEPS"):
        overrides["stateful_step_count"] = int(os.environ["STATEFUL_STEPS"])
    if os.environ.get("STATEFUL_VERBOSE"):
        overrides["verbosity"] = Verbosity.verbose  # every step of every example, as it runs
    return settings(base, **overrides)  # type: ignore[arg-type]


#: a soak runs as long as it was asked to; the CI budget plus a shrink (hypothesis stops shrinking after 5 minutes)
_TIMEOUT_S = 0 if PROFILE == "stateful-soak" else 1800

pytestmark = [pytest.mark.slow, pytest.mark.timeout(_TIMEOUT_S)]


def _allow_longer_shrinking() -> None:
    """``STATEFUL_SHRINK_S``: hypothesis stops shrinking after 5 minutes, and a replay of this machine takes seconds;
    a soak may give the shrinker more time. (An internal constant of hypothesis: when it moves, this says so.)"""
    seconds = os.environ.get("STATEFUL_SHRINK_S")
    if seconds:
        from hypothesis.internal.conjecture import engine

        assert hasattr(engine, "MAX_SHRINKING_SECONDS"), (
            "hypothesis moved MAX_SHRINKING_SECONDS: drop STATEFUL_SHRINK_S"
        )
        engine.MAX_SHRINKING_SECONDS = int(seconds)


def test_lifecycle_state_machine(lifecycle_stack: LifecycleStack) -> None:
    _allow_longer_shrinking()
    pending = sorted(PENDING_FIXES - FORCED)
    print(f"profile {PROFILE}; checks waiting for a fix (not run): {pending or 'none'}")
    try:
        run_state_machine_as_test(machine_for(lifecycle_stack), settings=_settings())
    except BaseException as exc:
        exc.add_note("service logs (last lines):\n" + lifecycle_stack.log_tails())
        raise
