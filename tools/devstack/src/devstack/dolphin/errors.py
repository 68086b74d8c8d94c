"""Errors of the DolphinScheduler launcher."""

from __future__ import annotations

from devstack._proc import DevstackError


class DolphinUnavailableError(DevstackError):
    """The DolphinScheduler artifacts could not be obtained on this machine."""


class DolphinApiError(DevstackError):
    """A DolphinScheduler REST call answered with a non-zero ``code``."""

    def __init__(self, path: str, code: int, msg: str) -> None:
        super().__init__(f"DolphinScheduler {path} failed: code={code} msg={msg}")
        self.path = path
        self.code = code
        self.msg = msg
