"""Smoke-size ``python -m handlers bench`` scenarios pass their own bound checks.

Not timed tests: the emulator runs time-scaled (its identity operations and
Event Grid's retry waits take a hundredth of Azure's time, or none), and the
bounds that only mean something at scale on a quiet machine (events/s, the
ratio to the naive baseline, latency) are loosened explicitly on the command
line. Every count-based bound (writes and requests per app, replay cost,
three events for the price of one, 429s, retries, events lost, apps
converged, grants left for a vanished principal, steady-state sweep requests,
peak RSS) is the issue's own.
"""

from __future__ import annotations

import pytest

import bench

LOOSE = ["--min-events-per-s", "1", "--min-naive-ratio", "0", "--max-p50-s", "30",
         "--max-p99-s", "30"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    rc = bench.main([*argv, "--latency-ms", "0", "--cold-start-runs", "0", *LOOSE])
    return rc, capsys.readouterr().out


def test_smoke_burst_passes_every_bound(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, "burst", "--apps", "10", "--time-scale", "0", "--runs", "1")
    assert rc == 0, out
    assert "bench burst: 10 new apps, 2 grant tags each, latency 0 ms" in out
    assert "run 1 naive" in out and "run 1 replay" in out
    assert "FAIL" not in out and "every bound holds" in out
    assert "= 3 (k + 1)" in out and "<= 5 (k + 3)" in out


def test_smoke_three_events_per_app_cost_what_one_does(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, "triple", "--apps", "8", "--time-scale", "0")
    assert rc == 0, out
    assert "three events per app: ARM requests" in out and "FAIL" not in out


def test_smoke_burst_under_a_write_bucket_is_paced_not_retried(
        capsys: pytest.CaptureFixture[str]) -> None:
    # 8 apps x 2 writes = 16 writes through a 6/10 bucket: at least 1 s of pacing
    rc, out = run(capsys, "throttled", "--apps", "8", "--grants", "1", "--time-scale", "0",
                  "--bucket", "6/10", "--max-bucket-ratio", "3")
    assert rc == 0, out
    assert "write bucket 6/10" in out
    assert "0 (0.00% of writes)" in out  # no 429 at all
    assert "x lower bound" in out and "FAIL" not in out


def test_smoke_failed_identity_changes_converge_again(
        capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, "failure", "--apps", "6", "--time-scale", "0.01")
    assert rc == 0, out
    assert "grants left for a principal gone" in out and "FAIL" not in out


def test_smoke_deadline_through_serve(capsys: pytest.CaptureFixture[str]) -> None:
    # 12 apps x 3 writes through a 6/5 bucket: 6 s of writes, batches of 4 answered
    # within 5 s: the first ones answer 503 and Event Grid delivers them again. serve
    # aims at timeout - min(1 s, timeout / 10), so 5 s leaves the answer 0.5 s for a
    # loaded machine's event-loop lag (with 2 s it had 0.2 s, and a make test on two
    # busy cores measured 2.05 s about one run in three)
    rc, out = run(capsys, "deadline", "--apps", "12", "--time-scale", "0.01", "--bucket",
                  "6/5", "--timeout", "5", "--max-deadline-ratio", "1.5")
    assert rc == 0, out
    assert "batch size (infra maxEventsPerBatch)" in out and "FAIL" not in out


def test_smoke_sweep_reads_lists_only(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, "sweep", "--apps", "300", "--subscriptions", "3", "--time-scale", "0",
                  "--runs", "1")
    assert rc == 0, out
    assert "apps unchanged" in out and "300/300" in out and "FAIL" not in out


def test_a_failed_bound_fails_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out = run(capsys, "burst", "--apps", "3", "--grants", "1", "--time-scale", "0",
                  "--runs", "1", "--no-naive", "--max-rss-mb", "1")
    assert rc == 1
    assert "bench: FAIL: burst: peak RSS" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--bucket", "fast"]) == 2
    assert bench.main(["--apps", "0"]) == 2
    assert bench.main(["nosuch"]) == 2
    err = capsys.readouterr().err
    assert "CAPACITY/REFILL" in err and "unknown scenario nosuch" in err
