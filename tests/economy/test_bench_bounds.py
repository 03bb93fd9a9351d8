"""The bench's figures and bound checks on made-up runs: each bound fails when it should,
and the log analysis measures what it says it measures."""

from __future__ import annotations

from dataclasses import replace

from bench import Bounds, Config, RunResult, burst_checks
from bench.burst import analyse, replay_checks, triple_checks
from bench.deadline import DeadlineResult, deadline_checks
from bench.failure import FailureResult, failure_checks
from bench.sweep import SweepResult, sweep_checks
from emulator.core import RequestRecord

CFG = Config(apps=100, grants=2, latency_ms=30, bucket=None, runs=1)
GOOD = RunResult(apps=100, arm_s=0.5, exit_code=0, peak_rss_mb=90.0,
                 results={"applied": 100}, requests=503, reads=203, writes=300,
                 writes_ok=300, own_max=5, shared=3,
                 latency_s=[0.1 + i / 1000 for i in range(100)],
                 delivery_latency_s=[i / 200 for i in range(100)], converged=100,
                 assignments=200)
NAIVE = replace(GOOD, impl="naive", arm_s=12.0, requests=1100, polls=600)


def failed(checks: list) -> set[str]:
    return {c.name.strip() for c in checks if c.ok is False}


def burst_failures(run: RunResult, cfg: Config = CFG, naive: RunResult | None = NAIVE,
                   bounds: Bounds | None = None) -> set[str]:
    return failed(burst_checks(cfg, [run], bounds or Bounds(), [naive] if naive else None))


def test_a_good_run_passes_every_bound():
    assert burst_failures(GOOD) == set()


def test_slow_burst_fails_throughput():
    assert burst_failures(replace(GOOD, arm_s=0.7)) == {"events/s (burst ARM time)"}


def test_less_than_one_and_a_half_times_the_naive_rate_fails():
    assert burst_failures(GOOD, naive=replace(NAIVE, arm_s=0.7)) == {"service over naive"}


def test_latency_bounds():
    slow_median = replace(GOOD, latency_s=[0.6] * 100)
    assert burst_failures(slow_median) == {"p50 latency, taken up -> granted, s"}
    long_tail = replace(GOOD, latency_s=[0.1] * 98 + [2.5] * 2)
    assert burst_failures(long_tail) == {"p99 latency, taken up -> granted, s"}


def test_an_extra_write_per_app_fails_the_economy_bound():
    run = replace(GOOD, writes=301, writes_ok=301)
    assert burst_failures(run) == {"ARM writes per app (429s excl.)"}


def test_more_than_k_plus_3_requests_for_an_app_fails():
    assert burst_failures(replace(GOOD, own_max=6)) == {"ARM requests per app, its own (max)"}


def test_shared_requests_beyond_one_listing_and_each_role_once_fail():
    assert burst_failures(replace(GOOD, shared=4)) == {"ARM requests shared by the burst"}


def test_throttling_and_retries_fail():
    run = replace(GOOD, writes=310, throttled=10, results={"applied": 99, "retry": 1},
                  exit_code=75, converged=99)
    assert burst_failures(run) == {"429 answers (worst run)",
                                   "events left for retry (worst run)",
                                   "apps converged (worst run)"}


def test_missing_outcomes_count_as_left_for_retry():
    run = replace(GOOD, results={"applied": 90})
    assert "events left for retry (worst run)" in burst_failures(run)
    assert run.left_for_retry == 10


def test_a_grant_left_for_a_vanished_principal_fails_convergence():
    assert burst_failures(replace(GOOD, stray=1)) == {"apps converged (worst run)"}


def test_rss_bound():
    assert burst_failures(replace(GOOD, peak_rss_mb=150.5)) == {
        "peak RSS of the service, MB (max)"}


def test_bucket_time_is_held_to_its_lower_bound():
    cfg = replace(CFG, bucket=(20.0, 10.0))
    lower = (300 - 20) / 10
    ok = replace(GOOD, arm_s=lower * 1.04)
    slow = replace(GOOD, arm_s=lower * 1.06)
    assert burst_failures(ok, cfg, None) == set()
    assert burst_failures(slow, cfg, None) == {"burst ARM time, s"}
    # throughput and latency are the bucket's to set: no bound on them with a bucket on
    verdicts = {c.name: c.ok for c in burst_checks(cfg, [slow], Bounds())}
    assert verdicts["events/s (burst ARM time)"] is None
    assert verdicts["p50 latency, taken up -> granted, s"] is None


def test_replay_bounds():
    replay = replace(GOOD, impl="replay", requests=103, reads=103, writes=0, writes_ok=0,
                     results={"unchanged": 100})
    assert failed(replay_checks(CFG, [replay], Bounds())) == set()
    assert failed(replay_checks(CFG, [replace(replay, requests=201)], Bounds())) == {
        "replay: ARM requests per event (worst)"}
    assert failed(replay_checks(CFG, [replace(replay, writes=1)], Bounds())) == {
        "replay: writes"}


def test_three_events_per_app_must_not_cost_more_than_one():
    one = GOOD
    three = replace(GOOD, results={"applied": 200, "ignored": 100})
    assert failed(triple_checks(CFG, one, three)) == set()
    assert failed(triple_checks(CFG, one, replace(three, requests=504))) == {
        "three events per app: ARM requests"}


def test_deadline_bounds():
    answers = [(0.0, 24.6, 503, 4), (55.0, 3.0, 200, 4)]
    good = DeadlineResult(apps=4, batch_size=4, answers=answers, delivered=4, first_s=0.0,
                          arm_start_s=0.1, last_write_s=1.04, writes_ok=12, converged=4)
    cfg = Config(apps=4, bucket=(2.0, 10.0))
    assert failed(deadline_checks(cfg, [good], 25.0)) == set()
    late = replace(good, answers=[(0.0, 25.2, 503, 4), (55.0, 3.0, 200, 4)])
    assert failed(deadline_checks(cfg, [late], 25.0)) == {"slowest answer, s"}
    lost = replace(good, delivered=3, dead_lettered=1)
    assert failed(deadline_checks(cfg, [lost], 25.0)) == {"events acknowledged",
                                                         "events dead-lettered"}
    slow = replace(good, last_write_s=1.2)
    assert failed(deadline_checks(cfg, [slow], 25.0)) == {"first delivery -> last write, s"}


def test_sweep_bounds():
    good = SweepResult(apps=1000, subscriptions=2, wall_s=5.0, requests=40,
                       results={"unchanged": 1000}, peak_rss_mb=100.0)
    cfg = Config(apps=1000)
    assert failed(sweep_checks(cfg, [good])) == set()
    assert failed(sweep_checks(cfg, [replace(good, requests=101)])) == {"ARM requests per app"}
    assert failed(sweep_checks(cfg, [replace(good, writes=1)])) == {"writes"}
    assert failed(sweep_checks(cfg, [replace(good, wall_s=61.0)])) == {
        "sweep time, s (start-up incl.)"}
    assert failed(sweep_checks(cfg, [replace(good, peak_rss_mb=251.0)])) == {
        "peak RSS of the sweep, MB"}


def test_failure_path_bounds():
    good = FailureResult(apps=10, failures=10, acknowledged=20, expected=20, converged=10,
                         requests=120, writes=80)
    cfg = Config(apps=10)
    assert failed(failure_checks(cfg, good)) == set()
    assert failed(failure_checks(cfg, replace(good, stray=1))) == {
        "grants left for a principal gone"}
    assert failed(failure_checks(cfg, replace(good, failures=9))) == {
        "identity changes failed after accepted"}


# -- the analysis of the emulator's log --------------------------------------------------
SUB = "/subscriptions/00000000-0000-0000-0000-000000000001"
APP = f"{SUB}/resourceGroups/rg/providers/Microsoft.App/containerApps/a1"
SCOPE = f"{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/st"
RA = f"{SCOPE}/providers/Microsoft.Authorization/roleAssignments"


def rec(method: str, path: str, start: float, end: float, kind: str = "read",
        status: int = 200) -> RequestRecord:
    return RequestRecord(method, path, "", kind, status, None, end, start)


def assignment(name: str, principal: str, role: str = "r1") -> dict:
    return {"name": name, "properties": {
        "principalId": principal, "scope": SCOPE,
        "roleDefinitionId": f"{SUB}/providers/Microsoft.Authorization/roleDefinitions/{role}"}}


def test_the_analysis_times_an_app_from_its_first_request_to_its_last_grant():
    log = [
        rec("GET", "/msi/token", 10.0, 10.01, kind="token"),
        rec("GET", f"{SUB}/providers/Microsoft.Authorization/roleAssignments", 10.02, 10.05),
        rec("GET", APP, 11.0, 11.03),
        rec("PATCH", APP, 11.04, 11.07, kind="write", status=202),
        rec("GET", APP, 11.08, 11.11),
        rec("PUT", f"{RA}/n1", 11.12, 11.15, kind="write", status=201),
        rec("PUT", f"{RA}/n2", 11.12, 11.19, kind="write", status=201),
    ]
    body = {"identity": {"principalId": "P"}}
    f = analyse(log, [APP], {APP: body},
                [assignment("n1", "p"), assignment("n2", "p", "r2")], grants=2)
    assert f["own_max"] == 5 and f["shared"] == 1
    assert f["latency_s"] == [11.19 - 11.0]
    assert f["delivery_latency_s"] == [11.19 - 10.0]
    assert abs(f["arm_s"] - 1.19) < 1e-9
    assert (f["requests"], f["writes"], f["converged"], f["stray"]) == (6, 3, 1, 0)


def test_the_analysis_finds_grants_left_for_a_principal_the_app_no_longer_has():
    body = {"identity": {"principalId": "p2"}}
    f = analyse([], [APP], {APP: body},
                [assignment("n1", "p1"), assignment("n2", "p2")], grants=2)
    assert f["stray"] == 1 and f["converged"] == 0
