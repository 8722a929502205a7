"""A stand-in for a module's `time` that records each wait instead of waiting (for the sandbox's
slow-service settings, whose waits the tests count rather than sit through)."""

from __future__ import annotations


class RecordedSleeps:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.seconds.append(seconds)
