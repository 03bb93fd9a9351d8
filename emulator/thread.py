"""EmulatorThread: the same Emulator served from a background thread, for sync users."""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from typing import Any

from .core import Emulator

__all__ = ["EmulatorThread"]


class EmulatorThread:
    """``with EmulatorThread(page_size=2) as emu: ...``; calls run on the emulator's loop."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.emulator: Emulator | None = None

    def start(self) -> EmulatorThread:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self.emulator = loop.run_until_complete(Emulator(**self._kwargs).start())
            except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.emulator.stop())
            loop.close()

        self._thread = threading.Thread(target=run, name="aca-emulator", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        assert self._loop is not None
        if inspect.iscoroutinefunction(fn):
            coro = fn(*args, **kwargs)
        else:
            async def wrapper() -> Any:
                return fn(*args, **kwargs)

            coro = wrapper()
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    def __getattr__(self, name: str) -> Any:
        emu = self.__dict__.get("emulator")
        if emu is None:
            raise AttributeError(name)
        value = getattr(emu, name)
        if callable(value) and not isinstance(value, type):
            return functools.partial(self._call, value)
        return value
