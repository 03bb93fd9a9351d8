"""The deadline: a throttled burst delivered through ``serve`` the way Event Grid delivers it.

The service runs as ``python -m handlers serve`` in a child process; the
emulator delivers the burst's write events to it like the deployment's Event
Grid subscription: Event Grid-sized batches (``maxEventsPerBatch`` of
``infra/events.bicep``, 4; Event Grid allows up to 5,000 events and 1 MB a
batch, the subscription asks for 64 KB, and four events of about 1 KB fit),
every batch sent at once, each retried on 408, 429, 5xx and timeouts on Event
Grid's schedule at the emulator's time scale (real by default: 10 s, 30 s, 1
min, 5 min ..., at least 30 s after a 503), dead-lettered after 30 attempts or 24
hours. ARM's write bucket is on (200 writes, 10 a second by default).

Figures: the slowest answer (``serve`` answers within ``--timeout``, unfinished
events with a 5xx), the 5xx answers and the attempts an event needed, every
event acknowledged (200) in the end and none dead-lettered, the time from the
first delivery to the last write next to the bucket's lower bound
``(writes - capacity) / refill``, when the last event was acknowledged, and
the apps converged.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from dataclasses import dataclass, field

from .burst import Config, analyse
from .common import Check, infra_batch_size, seed_apps, through_serve, write_event

__all__ = ["DeadlineResult", "deadline_checks", "run_deadline"]

MAX_WAIT_S = 7200.0  # give up on the delivery after two hours (Event Grid: 24)


@dataclass
class DeadlineResult:
    apps: int
    batch_size: int
    answers: list[tuple[float, float, int | None, int]] = field(default_factory=list)
    # (sent at, seconds to answer, status, events in the batch) of every notification POST
    delivered: int = 0  # events acknowledged with a 2xx
    dead_lettered: int = 0
    first_s: float = 0.0  # the first POST (time.time())
    last_write_s: float = 0.0  # the answer of the last ARM write
    arm_start_s: float = 0.0  # the arrival of the service's first ARM request
    writes_ok: int = 0
    throttled: int = 0
    converged: int = 0
    stray: int = 0
    peak_rss_mb: float = 0.0
    exit_code: int = 0
    stderr_tail: str = ""

    @property
    def last_ack_s(self) -> float:
        """From the first POST to the last 2xx answer."""
        acked = [t + s for t, s, status, _ in self.answers if status and 200 <= status < 300]
        return max(acked, default=self.first_s) - self.first_s

    @property
    def arm_s(self) -> float:
        """From the first delivery to the answer of the last ARM write."""
        return self.last_write_s - min(self.first_s, self.arm_start_s)


def run_deadline(cfg: Config, timeout: float) -> DeadlineResult:
    from emulator import EmulatorThread

    with tempfile.TemporaryDirectory(prefix="aca-bench-") as tmp, \
            EmulatorThread(latency_ms=cfg.latency_ms, time_scale=cfg.time_scale,
                           dead_letter_dir=os.path.join(tmp, "dead")) as emu:
        apps = seed_apps(emu, cfg.apps, cfg.grants)
        person = emu.person_oid("bench")
        events = [write_event(emu, a, person) for a in apps]
        ids = {e["id"] for e in events}
        delivery, child, stopped = through_serve(emu, tmp, events, timeout=timeout,
                                                 bucket=cfg.bucket, max_wait_s=MAX_WAIT_S)
        log = list(emu.request_log)
        figures = analyse(log, apps, {a: emu.get(a) for a in apps}, emu.role_assignments(),
                          cfg.grants)
        writes = [r for r in log if r.kind == "write" and r.status != 429]
        arm = [r for r in log if r.kind != "token"]
        history = [(a.started, a.seconds, a.status, a.events) for a in delivery.history
                   if a.started < stopped]  # not what Event Grid sent after serve stopped
        return DeadlineResult(
            apps=cfg.apps, batch_size=infra_batch_size(), answers=history,
            delivered=len(ids & {e["id"] for e in delivery.delivered}),
            dead_lettered=len(ids & {e["id"] for e, _ in delivery.dead_letters}),
            first_s=min((h[0] for h in history), default=0.0),
            last_write_s=max((r.ts for r in writes), default=0.0),
            arm_start_s=min((r.started for r in arm), default=0.0),
            writes_ok=len(writes), throttled=figures["throttled"],
            converged=figures["converged"], stray=figures["stray"],
            peak_rss_mb=child.peak_rss_mb, exit_code=child.exit_code,
            stderr_tail=child.stderr_tail)


def deadline_checks(cfg: Config, runs: list[DeadlineResult], timeout: float,
                    max_ratio: float = 1.1) -> list[Check]:
    """Timings: medians over the runs; answers, events and apps: the worst run."""
    n = cfg.apps
    slowest = max((s for r in runs for _, s, _, _ in r.answers), default=0.0)
    failed = max(sum(1 for a in r.answers if a[2] is not None and a[2] >= 500) for r in runs)
    posts = max(len(r.answers) for r in runs)
    unanswered = max(sum(1 for a in r.answers if a[2] is None) for r in runs)
    delivered = min(r.delivered for r in runs)
    lost = max(r.dead_lettered for r in runs)
    out = [
        Check("batch size (infra maxEventsPerBatch)", str(runs[0].batch_size),
              f"{-(-n // runs[0].batch_size)} batches at once"),
        Check("slowest answer, s", f"{slowest:.2f}", f"<= {timeout:g} (serve --timeout)",
              slowest <= timeout),
        Check("answers 5xx (redelivered by Event Grid)", f"{failed} of {posts}",
              "unfinished events (worst run)"),
        Check("POSTs left unanswered", str(unanswered), "0", unanswered == 0),
        Check("events acknowledged", f"{delivered}/{n}", f"{n}/{n}, none lost",
              delivered == n),
        Check("events dead-lettered", str(lost), "0", lost == 0),
    ]
    if cfg.bucket is not None:
        cap, refill = cfg.bucket
        lower = statistics.median(max(0.0, (r.writes_ok - cap) / refill) for r in runs)
        arm_s = statistics.median(r.arm_s for r in runs)
        ratio = arm_s / lower if lower > 0 else 0.0
        out += [
            Check("bucket lower bound, s", f"{lower:.2f}", "(writes - capacity) / refill"),
            Check("first delivery -> last write, s", f"{arm_s:.2f}",
                  f"<= {max_ratio:g} x lower bound", ratio <= max_ratio if lower > 0 else None),
            Check("  ratio to lower bound", f"{ratio:.3f}"),
        ]
    converged = min(r.converged for r in runs)
    out += [
        Check("first delivery -> last acknowledgement, s",
              f"{statistics.median(r.last_ack_s for r in runs):.1f}",
              "Event Grid's retry schedule"),
        Check("429 answers", str(max(r.throttled for r in runs)), "(paced, not retried)"),
        Check("apps converged", f"{converged}/{n}", f"{n}/{n}",
              converged == n and all(r.stray == 0 for r in runs)),
        Check("peak RSS of serve, MB", f"{max(r.peak_rss_mb for r in runs):.1f}"),
    ]
    return out
