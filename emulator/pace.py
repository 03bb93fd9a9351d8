"""How long things take: Azure's real pace, and the time scale that speeds it up.

Every delay the emulator imitates is written here at Azure's real length, as the
recorded traffic shows it (``tests/emulator/recordings``: container app
operations stay ``InProgress`` for 3-4 polls about 3 s apart, jobs for 2,
environment creation for 190 polls over ten minutes). A :class:`Pace` multiplies
each by the time scale: ``1`` is real pace (the default), ``0.01`` a hundred
times faster, ``0`` no delay at all. A scale above 1 is read as a speed-up factor
(``100`` is the same as ``0.01``), so the emulator is never slower than Azure.

Operations are measured on the pace's clock (``time.monotonic`` unless a test
hands in its own, to step time by hand), never on the event loop's.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["REAL", "Pace", "normalise_scale"]

# Seconds each kind of operation takes in Azure (before scaling).
REAL: dict[str, float] = {
    # PUT / PATCH of a container app: 3-4 InProgress polls 3 s apart (SYS, USR).
    "containerApps.write": 10.0,
    # DELETE is not recorded; assumed like a write.
    "containerApps.delete": 10.0,
    # start / stop actions (not recorded).
    "containerApps.action": 10.0,
    # PUT / PATCH of a job: 2 InProgress polls (JOB).
    "jobs.write": 5.0,
    "jobs.delete": 5.0,
    "jobs.action": 5.0,
    # Creating a managed environment: 190 InProgress polls 3 s apart (E2E).
    "managedEnvironments.create": 570.0,
    # Updating or deleting one (not recorded): a couple of minutes.
    "managedEnvironments.write": 120.0,
    "managedEnvironments.delete": 120.0,
}

# Event Grid's delivery retry schedule (seconds after the previous attempt), then
# every 12 hours, for at most 24 hours or 30 attempts.
EVENT_GRID_RETRY_S = (10.0, 30.0, 60.0, 300.0, 600.0, 1800.0, 3600.0, 10800.0, 21600.0)
EVENT_GRID_RETRY_TAIL_S = 43200.0
EVENT_GRID_TTL_S = 86400.0
EVENT_GRID_MAX_ATTEMPTS = 30


def normalise_scale(scale: float) -> float:
    """The fraction of real time a delay takes; refuses what is not a finite number >= 0."""
    value = float(scale)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"time scale must be a finite number >= 0, got {scale!r}")
    return 1.0 / value if value > 1 else value


@dataclass
class Pace:
    """Scaled delays on one clock."""

    scale: float = 1.0
    clock: Callable[[], float] = field(default=time.monotonic)

    def __post_init__(self) -> None:
        self.scale = normalise_scale(self.scale)

    def seconds(self, real_s: float) -> float:
        """The scaled length of a delay that takes ``real_s`` in Azure."""
        return real_s * self.scale

    def of(self, what: str) -> float:
        """The scaled duration of an operation kind (a key of ``REAL``)."""
        return self.seconds(REAL[what])

    def now(self) -> float:
        return self.clock()
