"""A local Azure Resource Manager for aca-warden's tests, demo and benchmarks.

Dev and test tooling only: the service (``handlers/``) never imports it, except
lazily from the ``emulator`` and ``demo`` commands.
"""

from __future__ import annotations

from .core import Emulator, RequestRecord
from .thread import EmulatorThread

__all__ = ["Emulator", "EmulatorThread", "RequestRecord"]
