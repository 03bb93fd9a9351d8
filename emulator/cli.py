"""``emulator [--port P] [--env-file F] [--deliver-to URL] [--latency-ms N] ...``

Runs the emulator until SIGINT/SIGTERM. Once it listens it prints the endpoint
and the time scale, and writes the env file (atomically, so a watcher never
reads half of it). Dead-lettered events and failed handshakes are reported on
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Callable

from .core import Emulator, RequestRecord
from .deployment import Deployment
from .pace import normalise_scale

__all__ = ["build_parser", "main"]


def _bucket(text: str) -> tuple[float, float]:
    try:
        cap, refill = text.split("/", 1)
        return float(cap), float(refill)
    except ValueError:
        raise argparse.ArgumentTypeError("expected CAPACITY/REFILL_PER_S, e.g. 200/10") from None


def _scale(text: str) -> float:
    try:
        return normalise_scale(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            "expected a number >= 0: the fraction of Azure's real time each delay takes "
            "(1 real pace, 0.01 a hundred times faster, 0 none)") from None


_EXAMPLES = """\
examples:
  python -m handlers emulator --env-file /tmp/warden.env   # then: set -a; . /tmp/warden.env; set +a
  python -m handlers emulator --time-scale 0.01 --deliver-to http://127.0.0.1:7071/api/events
  python -m handlers emulator --latency-ms 50 --write-bucket 200/10   # ARM's pace and bucket
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m handlers emulator", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Local Azure Resource Manager emulator for aca-warden (HTTPS on "
        "127.0.0.1).", epilog=_EXAMPLES)
    p.add_argument("--port", type=int, default=0, help="port to listen on (default: any free)")
    p.add_argument("--env-file", help="write the client environment (KEY=VALUE) here once ready")
    p.add_argument("--deliver-to", metavar="URL",
                   help="deliver events to this webhook like an Event Grid subscription")
    p.add_argument("--deliver-schema", choices=("eventgrid", "cloudevents"),
                   default="eventgrid", help="event schema of --deliver-to")
    p.add_argument("--deliver-source", choices=("subscription", "arn"), default="subscription",
                   help="subscription system topic events, or Azure Resource Notifications")
    p.add_argument("--latency-ms", type=float, default=0, help="latency added to ARM requests")
    p.add_argument("--page-size", type=int, default=100, help="items per list page")
    p.add_argument("--principal-delay", type=float, default=10.0, metavar="S",
                   help="seconds a new principal stays unknown to role assignments")
    p.add_argument("--time-scale", type=_scale, default=1.0, metavar="X",
                   help="fraction of Azure's real time every delay takes: operations, "
                   "Event Grid retries (default 1: real pace; 0.01: a hundred times faster; "
                   "0: none; a value above 1 is read as a speed-up factor)")
    p.add_argument("--dead-letter-dir", metavar="DIR",
                   help="write events that cannot be delivered here, as Event Grid writes "
                   "dead-letter blobs (they are reported on stderr either way)")
    p.add_argument("--retry-after", type=int, default=None, metavar="S",
                   help="add Retry-After to long-running operations (ARM sends none)")
    p.add_argument("--write-bucket", type=_bucket, metavar="CAP/REFILL",
                   help="ARM write token bucket: capacity and refill per second "
                   "(ARM's own is about 200/10 per subscription and region)")
    p.add_argument("--access-log", metavar="FILE",
                   help="append one line per request answered: status, method, path and "
                   "query, principal (token requests included)")
    p.add_argument("--subscription", help="id of the default subscription")
    p.add_argument("--grantable-roles", default="*", metavar="ROLES",
                   help="the deployment's grantable roles (infra/main.bicep grantableRoleIds, "
                   "the policy's grants.allowed_roles): comma-separated names or GUIDs; "
                   "'*' (default): any role that cannot grant access")
    p.add_argument("--create-missing-identities", action="store_true",
                   help="the deployment also gives the service Managed Identity Contributor "
                   "(for identities.create_missing = true)")
    return p


def _deployment(args: argparse.Namespace) -> Deployment:
    roles = tuple(r.strip() for r in args.grantable_roles.split(",") if r.strip()) or ("*",)
    return Deployment(grantable_roles=roles,
                      create_missing_identities=args.create_missing_identities)


def write_env_file(path: str, env: dict[str, str]) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(f"{k}={v}\n" for k, v in env.items())
    os.replace(tmp, path)


def _access_logger(path: str) -> Callable[[RequestRecord], None]:
    """Appends each answered request to PATH as one line, at once (a reader may tail it)."""
    def log(r: RequestRecord) -> None:
        query = f"?{r.query}" if r.query else ""
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"{r.status} {r.method} {r.path}{query} {r.kind} {r.principal_oid}\n")
    return log


async def _serve(args: argparse.Namespace) -> int:
    emu = Emulator(page_size=args.page_size, principal_delay_s=args.principal_delay,
                   latency_ms=args.latency_ms, retry_after_s=args.retry_after, port=args.port,
                   subscription_id=args.subscription, write_bucket=args.write_bucket,
                   time_scale=args.time_scale, dead_letter_dir=args.dead_letter_dir,
                   deployment=_deployment(args))
    if args.access_log:
        emu.access_log = _access_logger(args.access_log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await emu.start()
    try:
        if args.deliver_to:
            # The webhook is often started after the emulator: wait for it to listen.
            emu.deliver_to(args.deliver_to, schema=args.deliver_schema,
                           source=args.deliver_source, listen_wait_s=120.0)
        print(f"emulator listening on {emu.endpoint} (time scale {emu.time_scale:g})",
              flush=True)
        if args.env_file:
            write_env_file(args.env_file, emu.env)
            print(f"environment written to {args.env_file}", flush=True)
        else:
            for key, value in emu.env.items():
                print(f"{key}={value}", flush=True)
        await stop.wait()
    finally:
        await emu.stop()
    print("emulator stopped", flush=True)
    return 0


def _report_on_stderr() -> None:
    """Warnings of the emulator (dead letters, failed handshakes) go to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("emulator: %(message)s"))
    logger = logging.getLogger("emulator")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    _report_on_stderr()
    try:
        return asyncio.run(_serve(args))
    except ValueError as exc:  # a grantable role name that is unknown
        print(f"emulator: --grantable-roles: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 1
    finally:
        # The CA file it names is gone with the emulator: so is the env file.
        if args.env_file:
            with contextlib.suppress(FileNotFoundError):
                os.remove(args.env_file)
