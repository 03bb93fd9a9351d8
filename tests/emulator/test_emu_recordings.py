"""Recorded real Azure traffic replays green against the emulator (``replay.py`` says how).

Every interaction of every file in ``recordings/`` is replayed in order; 100 % of those
in the emulated slice must match. The replay report (matched / skipped per file) is
printed at the end of the test run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from replay import REPORTS, Clock, Replayer, load

from emulator import Emulator

RECORDINGS = Path(__file__).parent / "recordings"
FILES = sorted(RECORDINGS.glob("*.json"))


def test_every_recording_is_replayed() -> None:
    assert len(FILES) == 12  # the recordings README's table


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
async def test_recording_replays_green(path: Path, raw_on: Any) -> None:
    clock = Clock()
    async with Emulator(time_scale=1, clock=clock, page_size=1000) as emu:  # real pace
        replayer = Replayer(emu, raw_on(emu), clock, path.name, load(path))
        report = await replayer.run()
    REPORTS[path.name] = report
    assert report.mismatches == [], "\n".join(report.mismatches[:20])
    # every interaction in the slice matched; the rest are listed with their reason
    assert report.matched + report.skipped_interactions == report.interactions


def _break_space(monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.identity as identity

    monkeypatch.setattr(identity, "BOTH", "SystemAssigned,UserAssigned")


def _break_app_id_casing(monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    import emulator.workloads as workloads

    app = dataclasses.replace(workloads.APP, id_type="containerApps")
    monkeypatch.setattr(workloads, "KINDS", {**workloads.KINDS, workloads.APP.low: app})


def _break_created_by(monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.authz as authz

    real = authz._ra_view
    monkeypatch.setattr(authz, "_ra_view", lambda ctx, ra, creating=False: real(ctx, ra))


def _break_put_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    from emulator.lro import Operations

    real = Operations.start

    def start(self: Any, ctx: Any, **kw: Any) -> dict[str, str]:
        return {**real(self, ctx, **kw), "Retry-After": "0"}

    monkeypatch.setattr(Operations, "start", start)


def _break_slim_put(monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.workloads as workloads

    monkeypatch.setattr(workloads, "_NEW_VIEWS", "2099-01-01")


def _break_role_definition_id(monkeypatch: pytest.MonkeyPatch) -> None:
    import emulator.authz as authz

    real = authz._ra_view

    def tenant_form(ctx: Any, ra: Any, creating: bool = False) -> Any:
        out = real(ctx, ra, creating=creating)
        rd = out["properties"]["roleDefinitionId"]
        out["properties"]["roleDefinitionId"] = rd[rd.index("/providers/"):]
        return out

    monkeypatch.setattr(authz, "_ra_view", tenant_form)


@pytest.mark.parametrize(("breakage", "recording"), [
    (_break_space, "test_containerapp_identity_user.json"),
    (_break_app_id_casing, "test_containerapp_identity_system.json"),
    (_break_created_by, "test_role_assignment_no_graph.json"),
    (_break_put_headers, "test_containerapp_manualjob_withidentity_crudoperations_e2e.json"),
    (_break_slim_put, "test_containerapp_identity_system.json"),
    (_break_role_definition_id, "test_cli_mgmt_authorization.test_role_assignment.json"),
])
async def test_the_replay_catches_an_emulator_that_strays(breakage: Any, recording: str,
                                                          raw_on: Any,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    breakage(monkeypatch)
    clock = Clock()
    async with Emulator(time_scale=1, clock=clock, page_size=1000) as emu:
        replayer = Replayer(emu, raw_on(emu), clock, recording, load(RECORDINGS / recording))
        report = await replayer.run()
    assert report.mismatches, f"{breakage.__name__} went unnoticed"
