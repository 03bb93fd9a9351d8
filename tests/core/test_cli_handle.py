"""`handle FILE` on the core: the payload is parsed once, both to decide whether ARM is
needed at all and to handle it (the fake ARM stands in for the SDK's)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import handlers.events
import handlers.warden
from handlers import cli
from handlers.policy import Policy
from handlers.warden import Warden

from .conftest import write
from .fakearm import FakeArm


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch, arm: FakeArm) -> list[object]:
    """Every payload handed to parse_payload while `handle` runs over `arm`."""
    seen: list[object] = []
    real = handlers.events.parse_payload

    def counting(payload: object) -> Any:
        seen.append(payload)
        return real(payload)

    monkeypatch.setattr(handlers.events, "parse_payload", counting)
    monkeypatch.setattr(handlers.warden, "parse_payload", counting)
    monkeypatch.setattr(Warden, "from_env",
                        classmethod(lambda cls, env=None: cls(Policy(), arm)))
    # The command line sets up the process's logging (the azure loggers' level among it),
    # which would outlive this test: not what it is about.
    monkeypatch.setattr(cli, "_setup_logging", lambda verbose: None)
    return seen


def handle(tmp_path: Path, payload: object, capsys: pytest.CaptureFixture[str]
           ) -> tuple[int, list[dict[str, Any]]]:
    f = tmp_path / "events.json"
    f.write_text(json.dumps(payload))
    code = cli.main(["handle", str(f)])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_handle_parses_the_payload_once_and_converges_it(
        tmp_path: Path, arm: FakeArm, parses: list[object],
        capsys: pytest.CaptureFixture[str]) -> None:
    app = arm.app("web", {"grant:a": "Reader@."})
    code, outs = handle(tmp_path, [write(app)], capsys)
    assert code == 0 and [o["result"] for o in outs] == ["applied"]
    assert len(parses) == 1
    assert arm.calls[0][0] == "own_identity"  # asked first: no credential, nothing read


def test_handle_of_events_that_need_no_arm_parses_once_and_asks_arm_nothing(
        tmp_path: Path, arm: FakeArm, parses: list[object],
        capsys: pytest.CaptureFixture[str]) -> None:
    code, outs = handle(tmp_path, [{"not": "an event"}], capsys)
    assert code == 0 and [o["result"] for o in outs] == ["refused"]
    assert len(parses) == 1 and arm.requests == 0
