"""Where reward's time-driven work reads the time. The composition root injects one; tests inject
a `ManualClock` and move it instead of sleeping."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class ManualClock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime.now(timezone.utc)

    def now(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at
