"""A smoke-size ``python -m handlers bench`` passes its own bound checks.

Not a timed test: the throughput bound is loosened explicitly (a 10-app
burst says nothing about throughput, and the machine is shared); every
count-based bound (writes per event, 429s, retries, applied, RSS) is the
issue's own.
"""

from __future__ import annotations

import pytest

import bench


def test_smoke_burst_passes_every_bound(capsys: pytest.CaptureFixture[str]) -> None:
    rc = bench.main(["--apps", "10", "--grants", "2", "--latency-ms", "0", "--time-scale", "0",
                     "--runs", "1", "--cold-start-runs", "0", "--min-events-per-s", "1"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "burst of 10 new apps, 2 grant tags each, latency 0 ms" in out
    assert "write bucket off" in out
    assert "FAIL" not in out and "every bound holds" in out
    assert "= 3 (k + 1)" in out and "PASS" in out


def test_smoke_burst_under_a_write_bucket_is_paced_not_retried(
        capsys: pytest.CaptureFixture[str]) -> None:
    # 8 apps x 2 writes = 16 writes through a 6/10 bucket: at least 1 s of pacing
    rc = bench.main(["--apps", "8", "--grants", "1", "--latency-ms", "0", "--time-scale", "0",
                     "--runs", "1", "--bucket", "6/10", "--cold-start-runs", "0",
                     "--max-bucket-ratio", "3"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "write bucket 6/10" in out
    assert "0 (0.00% of writes)" in out  # no 429 at all
    assert "x lower bound" in out and "FAIL" not in out


def test_a_failed_bound_fails_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    rc = bench.main(["--apps", "3", "--grants", "1", "--latency-ms", "0", "--time-scale", "0",
                     "--runs", "1", "--cold-start-runs", "0", "--min-events-per-s", "1",
                     "--max-rss-mb", "1"])
    out = capsys.readouterr().out
    assert rc == 1
    assert "bench: FAIL: peak RSS" in out


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--bucket", "fast"]) == 2
    assert bench.main(["--apps", "0"]) == 2
    assert "CAPACITY/REFILL" in capsys.readouterr().err
