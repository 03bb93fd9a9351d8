"""The session-wide leak watch (tests/_secret_watch.py) really finds what it looks for.

The watch scans every test's service logs and outcomes; these tests prove the check can
fail: the same scanning finds a token (by payload and by signature), an IDENTITY_HEADER
and a container app secret value, and the live watch of this very session records a
token logged at DEBUG by "aca_warden" and an Outcome carrying one (then forgets them,
or this test itself would fail the run).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from emulator import Emulator
from handlers.warden import Outcome

# No __init__.py here (a package named "secrets" would shadow the standard library's):
# the watch lives one level up.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _secret_watch import Secrets, SecretWatch, record_text


def test_scanning_flags_token_parts_header_and_secret_value() -> None:
    emu = Emulator()
    token, _ = emu.issuer.mint(oid="00000000-0000-0000-0000-000000000001", audience="x")
    header, payload, signature = token.split(".")
    s = Secrets()
    s.add("token", token)
    s.add("IDENTITY_HEADER", emu.identity_header)
    s.add("secret value", "s3cr3t-value-1234")
    s.add("secret value", "p@ss w0rd!")  # not a run: found as a substring
    s.add("secret value", "x")  # too short to be told from ordinary text: ignored
    record = logging.LogRecord("aca_warden", logging.DEBUG, __file__, 1,
                               "GET %s with Authorization: Bearer %s", ("/x", token), None)
    assert s.find(record_text(record)) == ["token payload", "token signature"]
    assert s.find(f'{{"error": "bad sig {signature}"}}') == ["token signature"]
    assert s.find(f"claims={payload}.") == ["token payload"]
    assert s.find(header + " x y") == []  # the header part is the same for every token
    assert s.find(f"X-IDENTITY-HEADER: {emu.identity_header}") == ["IDENTITY_HEADER"]
    assert s.find("env DB=s3cr3t-value-1234;") == ["secret value"]
    assert s.find("pw=p@ss w0rd!") == ["secret value"]
    assert s.find("applied to app x in rg1, a secret value is not logged") == []
    extra = logging.LogRecord("aca_warden", logging.INFO, __file__, 1, "ok", (), None)
    extra.headers = {"Authorization": f"Bearer {token}"}
    assert s.find(record_text(extra)) == ["token payload", "token signature"]
    try:
        raise RuntimeError(f"rejected {emu.identity_header}")
    except RuntimeError:
        failed = logging.LogRecord("aca_warden", logging.ERROR, __file__, 1, "boom", (),
                                   sys.exc_info())
    assert s.find(record_text(failed)) == ["IDENTITY_HEADER"]


def test_the_live_watch_records_debug_logs_and_outcomes(pytestconfig, caplog) -> None:
    watch = pytestconfig.pluginmanager.get_plugin("secret-watch")
    assert isinstance(watch, SecretWatch)
    emu = Emulator()  # discloses its IDENTITY_HEADER; its issuer each token it mints
    token, _ = emu.issuer.mint(oid="00000000-0000-0000-0000-000000000002", audience="x")
    watch.take()
    log = logging.getLogger("aca_warden")
    log.debug("leaking %s", token)  # below the level the suite runs aca_warden at
    logging.getLogger("handlers.policy").info("header %s", emu.identity_header)
    assert not [r for r in caplog.records if r.levelno < logging.WARNING], \
        "the watch must not change what reaches caplog"
    assert watch.secrets.find(watch.take()) == ["IDENTITY_HEADER", "token payload",
                                                "token signature"]
    Outcome("e1", "app", "retry", error=f"token {token}").to_json()
    assert watch.secrets.find(watch.take()) == ["token payload", "token signature"]
    assert watch.take() == ""  # forgotten: this test does not fail the run


def test_levels_are_what_they_were(caplog) -> None:
    log = logging.getLogger("aca_warden")
    caplog.set_level(logging.DEBUG, logger="aca_warden")
    log.debug("seen at debug")
    assert [r.getMessage() for r in caplog.records] == ["seen at debug"]
    caplog.clear()
    caplog.set_level(logging.INFO, logger="aca_warden")
    log.debug("not seen")
    log.info("seen at info")
    assert [r.getMessage() for r in caplog.records] == ["seen at info"]


def test_a_logger_made_later_is_watched_and_keeps_its_level(pytestconfig, caplog) -> None:
    watch = pytestconfig.pluginmanager.get_plugin("secret-watch")
    child = logging.getLogger("aca_warden.a_child_made_by_the_watch_test")
    child.debug("recorded, yet not seen: the root is at WARNING")
    assert not caplog.records
    assert "recorded, yet not seen" in watch.take()
