"""Suite-wide: the secret leak watch (tests/_secret_watch.py) runs over every test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

if str(Path(__file__).resolve().parent) not in sys.path:  # e.g. --import-mode=importlib
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from _secret_watch import SecretWatch


def pytest_configure(config: pytest.Config) -> None:
    watch = SecretWatch()
    watch.start()
    config.pluginmanager.register(watch, "secret-watch")
