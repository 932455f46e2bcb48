"""Where a run's wall time goes: seconds per part, recorded by the run itself.

    clock = PartClock()
    with clock("validation"):
        ...
    clock.split()  # {"validation": 12.3, ..., "total": 100.0}

A part's seconds are wall time between entering and leaving it (JAX dispatches
asynchronously, so a part that waits for results also pays for work queued before it).
Time outside every part is reported as "other".
"""

from __future__ import annotations

import contextlib
import time


class PartClock:
    def __init__(self):
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, part: str):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(part, time.perf_counter() - start)

    def add(self, part: str, seconds: float) -> None:
        self.seconds[part] = self.seconds.get(part, 0.0) + seconds

    def split(self) -> dict[str, float]:
        """Seconds of every part, "other" (outside all parts) and "total" (since start),
        rounded to 0.1 s.

        >>> clock = PartClock()
        >>> with clock("test"):
        ...     pass
        >>> sorted(clock.split())
        ['other', 'test', 'total']
        """
        total = time.perf_counter() - self.started
        out = {part: round(seconds, 1) for part, seconds in self.seconds.items()}
        out["other"] = round(max(0.0, total - sum(self.seconds.values())), 1)
        out["total"] = round(total, 1)
        return out
