"""Session-wide leak watch: no secret reaches the service's logs or outcomes, in any test.

Registered by tests/conftest.py. For the whole session it records

* every log record of the service's loggers ("aca_warden", "handlers" and their
  children) at DEBUG, whatever level the test runs them at: each such logger is set to
  level 1 and given a filter that records the record, then lets it through only if it
  would have passed the level the logger had without the watch (so caplog, pytest's
  log capture and every handler see exactly what they saw before);
* every record of the "azure" loggers, at the levels they are enabled at (the SDK logs
  every request at INFO: DEBUG for it would slow the suite down);
* every Outcome's JSON (``Outcome.to_json`` is wrapped).

The secrets are what the emulator discloses through ``emulator.auth.SECRET_LISTENERS``:
every token it mints (looked for by its payload and its signature part, each of which a
whole token contains), every IDENTITY_HEADER and every container app secret value it is
given or holds. After each test phase (setup, call, teardown) the text recorded during
it is scanned against every secret known so far (a secret is disclosed before it can be
logged); a leak fails that phase's report and the run, naming the test, the phase and
the kind of secret, never the secret itself.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import threading
import traceback
from typing import Any

import pytest

SERVICE_LOGGERS = ("aca_warden", "handlers")
SDK_LOGGER = "azure"
WATCH_LEVEL = 1  # below DEBUG: every record is made; the filter restores the real level
# Tokens' parts, IDENTITY_HEADERs (hex) and most secret values are runs of these: each is
# looked up whole in the runs of the text (one regex pass, one set lookup per run).
_RUN = re.compile(r"[A-Za-z0-9_-]{6,}")
MIN_SECRET_LEN = 6  # a shorter "secret" (a test's "x") would match ordinary text
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime"}


class Secrets:
    """The needles: value -> kind. Thread-safe enough for emulator threads to add to."""

    def __init__(self) -> None:
        self.runs: dict[str, str] = {}
        self.literals: dict[str, str] = {}  # values with other characters: substring search
        self.counts: dict[str, int] = {}

    def add(self, kind: str, value: str) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if kind == "token":
            parts = value.split(".")
            if len(parts) == 3:  # the header is the same for every token: not a secret
                self.runs.setdefault(parts[1], "token payload")
                self.runs.setdefault(parts[2], "token signature")
            else:
                self.literals.setdefault(value, "token")
            return
        if len(value) < MIN_SECRET_LEN:
            return
        if _RUN.fullmatch(value):
            self.runs.setdefault(value, kind)
        else:
            self.literals.setdefault(value, kind)

    def find(self, text: str) -> list[str]:
        """The kinds of secret that appear in ``text`` (never the values)."""
        kinds = {self.runs[r] for r in set(_RUN.findall(text)) if r in self.runs}
        kinds.update(k for v, k in list(self.literals.items()) if v in text)
        return sorted(kinds)


def record_text(record: logging.LogRecord) -> str:
    """All a handler could write of ``record``: message, extras, traceback, stack."""
    try:
        text = record.getMessage()
    except Exception:  # noqa: BLE001 - a bad format string still carries its arguments
        text = f"{record.msg!r} {record.args!r}"
    extras = [f"{k}={v!r}" for k, v in vars(record).items() if k not in _STANDARD_ATTRS]
    if extras:
        text += " " + " ".join(extras)
    if record.exc_info and record.exc_info[0] is not None:
        text += "\n" + "".join(traceback.format_exception(*record.exc_info))
    elif record.exc_text:
        text += "\n" + record.exc_text
    if record.stack_info:
        text += "\n" + record.stack_info
    return text


class _Tap(logging.Filter):
    """On a service logger: records every record, passes those the real level passes."""

    def __init__(self, watch: SecretWatch, logger: logging.Logger) -> None:
        super().__init__()
        self.watch = watch
        self.logger = logger

    def filter(self, record: logging.LogRecord) -> bool:
        self.watch.note(record_text(record))
        return record.levelno >= self.watch.threshold(self.logger)


class _SdkHandler(logging.Handler):
    def __init__(self, watch: SecretWatch) -> None:
        super().__init__(logging.NOTSET)
        self.watch = watch

    def emit(self, record: logging.LogRecord) -> None:
        self.watch.note(record_text(record))

    def handleError(self, record: logging.LogRecord) -> None:
        pass


def _is_service(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in SERVICE_LOGGERS)


class SecretWatch:
    """The pytest plugin (one per session)."""

    def __init__(self) -> None:
        self.secrets = Secrets()
        self.buffer: list[str] = []
        self.leaks: list[tuple[str, str, list[str]]] = []  # (nodeid, phase, kinds)
        self.scanned = 0  # characters
        self._orig_levels: dict[str, int] = {}
        self._taps: dict[str, logging.Logger] = {}
        self._lock = threading.Lock()
        self._undo: list[Any] = []

    # -- recording ------------------------------------------------------------------
    def note(self, text: str) -> None:
        self.buffer.append(text)

    def take(self) -> str:
        """What was recorded since the last take (and forget it)."""
        taken, self.buffer = self.buffer, []
        return "\n".join(taken)

    def threshold(self, logger: logging.Logger) -> int:
        """The effective level ``logger`` would have without the watch."""
        c: logging.Logger | None = logger
        while c is not None:
            level = c.level
            if level == WATCH_LEVEL and c.name in self._taps:
                level = self._orig_levels.get(c.name, logging.NOTSET)
            if level:
                return level
            c = c.parent
        return logging.NOTSET

    def _tap(self, logger: logging.Logger) -> None:
        with self._lock:
            if logger.name not in self._taps:
                logger.addFilter(_Tap(self, logger))
                self._taps[logger.name] = logger
            if logger.level != WATCH_LEVEL:  # new, or set by someone since: that is its level
                self._orig_levels[logger.name] = logger.level
                logger.setLevel(WATCH_LEVEL)

    def _tap_all(self) -> None:
        for name, logger in list(logging.Logger.manager.loggerDict.items()):
            if isinstance(logger, logging.Logger) and _is_service(name):
                self._tap(logger)

    def start(self) -> None:
        from emulator import auth
        from handlers import report

        auth.SECRET_LISTENERS.append(self.secrets.add)
        self._undo.append(lambda: auth.SECRET_LISTENERS.remove(self.secrets.add))

        original = report.Outcome.to_json

        @functools.wraps(original)
        def to_json(outcome: Any) -> dict:
            d = original(outcome)
            self.note(json.dumps(d, default=str))
            return d

        report.Outcome.to_json = to_json  # type: ignore[method-assign,assignment]
        self._undo.append(lambda: setattr(report.Outcome, "to_json", original))

        # Loggers made later (a module imported by one test) are tapped as they are made:
        # a child left at NOTSET under a tapped parent would otherwise inherit level 1.
        manager = logging.Logger.manager
        get_logger = manager.getLogger

        def getLogger(name: str) -> logging.Logger:
            logger = get_logger(name)
            if _is_service(name) and name not in self._taps:
                self._tap(logger)
            return logger

        manager.getLogger = getLogger  # type: ignore[method-assign]
        self._undo.append(lambda: vars(manager).pop("getLogger", None))
        for name in SERVICE_LOGGERS:
            logging.getLogger(name)
        self._tap_all()

        sdk = _SdkHandler(self)
        logging.getLogger(SDK_LOGGER).addHandler(sdk)
        self._undo.append(lambda: logging.getLogger(SDK_LOGGER).removeHandler(sdk))

    def stop(self) -> None:
        while self._undo:
            self._undo.pop()()
        for name, logger in self._taps.items():
            for f in [f for f in logger.filters if isinstance(f, _Tap)]:
                logger.removeFilter(f)
            if logger.level == WATCH_LEVEL:
                logger.setLevel(self._orig_levels.get(name, logging.NOTSET))

    def scan(self) -> list[str]:
        text = self.take()
        self.scanned += len(text)
        return self.secrets.find(text) if text else []

    # -- hooks ----------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self._tap_all()  # a level some code set since, between tests, becomes the real one

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        outcome = yield
        report = outcome.get_result()
        kinds = self.scan()
        if not kinds:
            return
        self.leaks.append((item.nodeid, call.when, kinds))
        message = (f"secret leak watch: the service's logs or outcomes during {call.when} "
                   f"contained: {', '.join(kinds)} (see tests/_secret_watch.py)")
        if report.passed:
            report.outcome = "failed"
            report.longrepr = message
        else:
            report.sections.append(("secret leak watch", message))

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        kinds = self.scan()
        if kinds:
            self.leaks.append(("(outside any test)", "session", kinds))
        if self.leaks and session.exitstatus == 0:
            session.exitstatus = 1

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        if config.option.verbose > 0:
            known = ", ".join(f"{n} {k}(s)" for k, n in sorted(self.secrets.counts.items()))
            terminalreporter.line(f"secret leak watch: {self.scanned} characters of logs and "
                                  f"outcomes scanned for {known or 'no secrets'}")
        if not self.leaks:
            return
        terminalreporter.section("secret leak watch", red=True)
        for nodeid, when, kinds in self.leaks:
            terminalreporter.line(f"{nodeid} ({when}): {', '.join(kinds)}", red=True)

    def pytest_unconfigure(self) -> None:
        self.stop()
