"""The bench's bound checks on made-up runs: each bound fails when it should."""

from __future__ import annotations

from dataclasses import replace

from bench import Bounds, Config, RunResult, checks

CFG = Config(apps=100, grants=2, latency_ms=30, bucket=None, runs=1)
GOOD = RunResult(apps=100, wall_s=2.5, arm_s=1.0, exit_code=0, peak_rss_mb=90.0,
                 results={"applied": 100}, durations_ms=[float(i) for i in range(100)],
                 reads=300, writes=300, writes_ok=300, throttled=0, assignments=200)


def verdicts(cfg: Config, run: RunResult, bounds: Bounds | None = None) -> dict[str, bool | None]:
    return {c.name: c.ok for c in checks(cfg, [run], bounds or Bounds())}


def failed(cfg: Config, run: RunResult, bounds: Bounds | None = None) -> set[str]:
    return {name for name, ok in verdicts(cfg, run, bounds).items() if ok is False}


def test_a_good_run_passes_every_bound():
    assert failed(CFG, GOOD) == set()


def test_slow_burst_fails_throughput():
    assert failed(CFG, replace(GOOD, arm_s=2.1)) == {"events/s (burst ARM time)"}


def test_an_extra_write_per_app_fails_the_economy_bound():
    run = replace(GOOD, writes=301, writes_ok=301)
    assert failed(CFG, run) == {"ARM writes per event (429s excl.)"}


def test_throttling_and_retries_fail():
    run = replace(GOOD, writes=310, throttled=10, results={"applied": 99, "retry": 1},
                  exit_code=75, assignments=198)
    assert failed(CFG, run) == {"429 answers (worst run)", "events left for retry (worst run)",
                                "events applied (worst run)", "role assignments in ARM after"}


def test_missing_outcomes_count_as_left_for_retry():
    run = replace(GOOD, results={"applied": 90})
    assert "events left for retry (worst run)" in failed(CFG, run)
    assert run.left_for_retry == 10


def test_rss_bound():
    assert failed(CFG, replace(GOOD, peak_rss_mb=150.0)) == {"peak RSS of the service, MB (max)"}


def test_bucket_time_is_held_to_its_lower_bound():
    cfg = replace(CFG, bucket=(20.0, 10.0))
    lower = (300 - 20) / 10
    ok = replace(GOOD, arm_s=lower * 1.04)
    slow = replace(GOOD, arm_s=lower * 1.06)
    assert failed(cfg, ok) == set()
    assert failed(cfg, slow) == {"burst ARM time, s"}
    # throughput is the bucket's to set: no events/s bound with a bucket on
    assert verdicts(cfg, slow)["events/s (burst ARM time)"] is None


def test_no_ratio_when_the_writes_fit_the_bucket():
    cfg = replace(CFG, bucket=(500.0, 10.0))
    assert verdicts(cfg, GOOD)["burst ARM time, s"] is None
