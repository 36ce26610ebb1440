"""A clock a test moves by hand: the stand-in's token expiry and rate windows, and the client's waits."""

from __future__ import annotations


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        """Move on by ``seconds`` (a negative wait moves nothing), and remember the wait."""
        self.slept.append(seconds)
        self.now += max(0.0, seconds)
