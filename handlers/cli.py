"""Command line: ``python -m handlers <command>``.

``handle``, ``plan`` and ``reconcile`` print one JSON outcome line per event
(or app) on stdout; diagnostics go to stderr. The operator's commands
(``explain``, ``inventory``, ``plan --all`` / ``--policy``, ``release``) run
in handlers.ops.commands. Exit codes follow the contract:
0 nothing left to retry, 75 at least one outcome is "retry", 2 usage or policy
error or an unreadable FILE, 1 an unexpected internal error. The policy is
loaded and validated before any ARM call. ``serve`` lives in its own module;
``demo``, ``emulator`` and ``bench`` are the top-level packages of the same
names (development tools, not deployed to Azure: see .funcignore), imported
only when asked for — the one place the service reaches them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from handlers.events import AppEvent

__all__ = ["build_parser", "main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_RETRY = 0, 1, 2, 75

_DESCRIPTION = """\
aca-warden keeps Azure Container Apps and Container Apps jobs (workloads) in line
with the organisation's identity and access conventions: standard user-assigned
identities attached, grant tags turned into role assignments for the workload's
system-assigned identity, and those grants cleaned up when it is deleted.

Settings come from the environment: WARDEN_POLICY (policy file, default
./policy.toml), WARDEN_ARM_ENDPOINT, WARDEN_ARM_SCOPE, WARDEN_DRY_RUN (1, true,
yes, on: plan only; 0, false, no, off or empty: as the policy says; anything
else: exit 2), WARDEN_SUBSCRIPTIONS and the standard azure-identity variables.
"""

_EXIT_CODES = """\
exit codes:
  0   every event was applied, unchanged, deleted, ignored or refused (nothing a
      retry could fix)
  75  at least one event hit a transient failure and must be delivered again
  2   usage or policy error, a FILE that is missing or not JSON, a subscription
      that is malformed, does not exist or cannot be read (named; the others are
      still processed), an app that plan does not find, or no Azure credential at
      all (the message says what was tried)
  1   an unexpected internal error
"""
_HANDLE_EPILOG = """\
examples:
  python -m handlers handle events.json
  python -m handlers handle dead-letters.json      # dead-lettered events, fed back as they are
  WARDEN_DRY_RUN=1 python -m handlers handle - < events.json   # plan only: write nothing

""" + _EXIT_CODES
_RECONCILE_EPILOG = """\
examples:
  python -m handlers reconcile
  python -m handlers reconcile --subscription $SUB --subscription $OTHER_SUB
  WARDEN_DRY_RUN=1 python -m handlers reconcile | jq 'select(.result == "applied")'

""" + _EXIT_CODES
_SERVE_EPILOG = """\
examples:
  python -m handlers serve                         # http://127.0.0.1:7071/api/events
  WARDEN_WEBHOOK_KEY=$KEY python -m handlers serve --host 0.0.0.0 --port 8080
  python -m handlers emulator --deliver-to http://127.0.0.1:7071/api/events &
"""
_DEMO_EPILOG = """\
example:
  python -m handlers demo                          # what `make demo` runs
"""


_OPS_EXIT_CODES = """\
exit codes:
  0   it did what was asked
  75  ARM failed transiently: run it again
  2   usage: bad options, a policy file that cannot be used, a workload that does not
      exist, or a subscription that is malformed, missing or unreadable (named; the
      others are still processed)
  1   ARM refused something for good (e.g. no permission), or an internal error
"""
_ID = "$APP"
_APP = ("  APP=/subscriptions/$SUB/resourceGroups/rg-apps/providers/Microsoft.App/"
        "containerApps/web\n")
_JOB = ("  JOB=/subscriptions/$SUB/resourceGroups/rg-apps/providers/Microsoft.App/"
        "jobs/nightly\n")
_WORKLOAD_ID_HELP = ("the container app's or job's full ARM id (.../providers/Microsoft.App/"
                     "containerApps/NAME or .../providers/Microsoft.App/jobs/NAME)")
_PLAN_EPILOG = f"""\
examples:
{_APP}{_JOB}  python -m handlers plan {_ID}
  python -m handlers plan $JOB
  python -m handlers plan --all --subscription $SUB
  python -m handlers plan --all --policy new-policy.toml

""" + _OPS_EXIT_CODES
_EXPLAIN_EPILOG = f"""\
examples:
{_APP}  python -m handlers explain {_ID}
  python -m handlers explain --json {_ID} | jq '.grant_tags[].items[]'

""" + _OPS_EXIT_CODES
_INVENTORY_EPILOG = """\
examples:
  python -m handlers inventory
  python -m handlers inventory --subscription $SUB --json | jq 'select(.orphan)'

""" + _OPS_EXIT_CODES
_RELEASE_EPILOG = f"""\
examples:
{_APP}  python -m handlers release {_ID}          # shows what it would do
  python -m handlers release {_ID} --yes    # does it
  python -m handlers release --resource-group rg-apps --subscription $SUB --detach-identities --yes

""" + _OPS_EXIT_CODES


def _subscriptions_option(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--subscription", action="append", metavar="ID", dest="subscriptions",
                   help=f"a subscription {what} (repeatable; default: WARDEN_SUBSCRIPTIONS, "
                   "else every subscription the credential can read)")


def build_parser() -> argparse.ArgumentParser:
    """The argparse tree of every command."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="python -m handlers", description=_DESCRIPTION, formatter_class=fmt,
        epilog="Run 'python -m handlers <command> --help' for a command's options.")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more to stderr (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="<command>")

    p = sub.add_parser(
        "handle", formatter_class=fmt, help="process the Event Grid events in FILE and exit",
        description="Process the events in FILE: one event or a JSON array, in the Event "
        "Grid or the CloudEvents 1.0 schema (dead-lettered events too). Prints one JSON "
        "outcome line per event on stdout.", epilog=_HANDLE_EPILOG)
    p.add_argument("file", metavar="FILE", help="a JSON file of events, or - for stdin")

    p = sub.add_parser(
        "plan", formatter_class=fmt,
        help="show what a reconcile of one container app or job, or of every one, would change",
        description="Read one workload (container app or job) and print, as one JSON outcome "
        "line, what a reconcile would change; with --all, one line per workload of the "
        "subscriptions. With --policy FILE, show instead what switching to that policy file "
        "would change: grants revoked, newly refused, newly granted (listed, then summed "
        "up). Writes nothing.", epilog=_PLAN_EPILOG)
    p.add_argument("app_id", metavar="APP_ID", nargs="?", help=_WORKLOAD_ID_HELP)
    p.add_argument("--all", action="store_true", help="every workload of the subscriptions")
    _subscriptions_option(p, "to plan (with --all)")
    p.add_argument("--policy", metavar="FILE",
                   help="a candidate policy file: show what switching to it would change")
    p.add_argument("--json", action="store_true",
                   help="with --policy: one JSON line per workload that would change")

    p = sub.add_parser(
        "explain", formatter_class=fmt,
        help="why a container app or job has or lacks each grant and standard identity",
        description="Explain one workload: every grant tag item by item with the policy rule "
        "that decided it (grammar, role resolution, privilege floor, broad-role rule, "
        "allowed_roles, allowed_scopes, scope existence), the assignment that holds it "
        "(aca-warden's or somebody else's) or why it is refused and what would be accepted; "
        "every standard identity and whether it is attached; every role assignment on its "
        "identities that aca-warden did not make; what the next event would change. "
        "Writes nothing.", epilog=_EXPLAIN_EPILOG)
    p.add_argument("app_id", metavar="APP_ID", help=_WORKLOAD_ID_HELP)
    p.add_argument("--json", action="store_true", help="one JSON document for scripts")

    p = sub.add_parser(
        "inventory", formatter_class=fmt,
        help="everything aca-warden manages, per container app and job",
        description="List, per workload, the standard identities it carries and the role "
        "assignments aca-warden made for it (role, scope, the grant tag asking for it), and "
        "orphans: assignments aca-warden made for workloads that are gone. A table for "
        "people; JSON lines with --json. Progress on stderr. Writes nothing.",
        epilog=_INVENTORY_EPILOG)
    _subscriptions_option(p, "to list")
    p.add_argument("--json", action="store_true", help="one JSON line per workload")

    p = sub.add_parser(
        "release", formatter_class=fmt,
        help="offboard container apps and jobs: remove what aca-warden made",
        description="Offboard workloads: revoke every role assignment aca-warden made for "
        "them (never one somebody else made), with --detach-identities also take off the "
        "standard identities the policy attaches, then tag each with the opt-out tag so "
        "aca-warden leaves it alone. Without --yes it only shows what it would do.",
        epilog=_RELEASE_EPILOG)
    p.add_argument("app_id", metavar="APP_ID", nargs="?", help=_WORKLOAD_ID_HELP)
    p.add_argument("--resource-group", metavar="RG",
                   help="every workload of this resource group (a name, in the subscriptions "
                   "below, or its full id)")
    p.add_argument("--subscription", action="append", metavar="ID", dest="subscriptions",
                   help="release every workload of this subscription (repeatable); with "
                   "--resource-group, where to look for it (default: WARDEN_SUBSCRIPTIONS, "
                   "else every subscription the credential can read)")
    p.add_argument("--detach-identities", action="store_true",
                   help="also detach the standard identities the policy attaches")
    p.add_argument("--yes", action="store_true",
                   help="do it (without, or in a dry run: show, write nothing)")
    p.add_argument("--json", action="store_true", help="one JSON line per workload")

    p = sub.add_parser(
        "reconcile", formatter_class=fmt,
        help="converge every container app and job; remove grants of those that are gone",
        description="Sweep every container app and job in the subscriptions, converge each, "
        "and remove the grants aca-warden made for apps and jobs that no longer exist. "
        "Outcome lines on stdout, progress on stderr.", epilog=_RECONCILE_EPILOG)
    _subscriptions_option(p, "to sweep")

    p = sub.add_parser(
        "serve", formatter_class=fmt, help="run a local Event Grid webhook endpoint",
        description="Serve an Event Grid webhook (validation and CloudEvents handshakes, "
        "batches) at /api/events and /runtime/webhooks/eventgrid, and GET /healthz. Bound "
        "to anything but a loopback address (127.0.0.0/8, ::1, localhost) it requires the "
        "key in WARDEN_WEBHOOK_KEY; when that is set, every delivery must carry it.",
        epilog=_SERVE_EPILOG)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    p.add_argument("--port", type=_port, default=7071,
                   help="port to bind, 1-65535 (default: %(default)s)")
    p.add_argument("--timeout", type=_seconds, default=25.0,
                   help="seconds to answer a delivery within, positive (default: %(default)s)")

    p = sub.add_parser(
        "demo", formatter_class=fmt, help="run the whole story against the built-in emulator",
        description="Run the whole story against the built-in local Azure emulator: no Azure "
        "account needed. Ends with a summary; exit 0 when every step did what it says.",
        epilog=_DEMO_EPILOG)

    sub.add_parser(
        "emulator", add_help=False, help="run the local Azure emulator alone",
        description="Run the local Azure emulator (options: see 'emulator --help').")

    sub.add_parser(
        "lint", add_help=False,
        help="check grant tags in ARM, Bicep and Terraform plan files before deployment",
        description="Check grant tags in infrastructure code (options: see 'lint --help').")

    p = sub.add_parser(
        "bench", formatter_class=fmt, add_help=False,
        help="benchmark the service against the emulator (see 'bench --help')",
        description="Benchmark the service against the emulator.")
    return parser


def _port(text: str) -> int:
    """A TCP port, 1-65535 (argparse turns the ValueError into a usage error, exit 2)."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a port number: {text!r} (expected 1-65535)") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (expected 1-65535)")
    return port


def _seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive, finite number of seconds")
    return value


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if verbose < 2:  # the SDK logs every request and response at INFO: only with -vv
        logging.getLogger("azure").setLevel(logging.WARNING)


def _print_outcomes(outcomes: Sequence[Any]) -> None:
    for o in outcomes:
        sys.stdout.write(json.dumps(o.to_json(), default=str) + "\n")
    sys.stdout.flush()


def _read_events(path: str) -> object:
    """The JSON in FILE (``-`` = stdin); raises SystemExit(2) with a message naming it."""
    name = "<stdin>" if path == "-" else path
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except OSError as e:
        sys.stderr.write(f"error: cannot read {name}: {e.strerror or e}\n")
        raise SystemExit(EXIT_USAGE) from None
    except UnicodeDecodeError as e:
        sys.stderr.write(f"error: {name} is not UTF-8 text: {e}\n")
        raise SystemExit(EXIT_USAGE) from None
    try:
        return json.loads(text)
    except ValueError as e:
        sys.stderr.write(f"error: {name} is not JSON: {e}\n")
        raise SystemExit(EXIT_USAGE) from None
    except RecursionError:
        sys.stderr.write(f"error: {name} is not usable JSON: nested too deeply\n")
        raise SystemExit(EXIT_USAGE) from None


async def _run_warden(args: argparse.Namespace) -> int:
    from handlers.warden import Warden, exit_code

    warden = Warden.from_env()  # PolicyError before any ARM call
    problems: list[str] = []
    async with warden:
        events = _events(args)
        if events is None or any(ev.workload is not None for ev in events):
            await _credential_check(warden, args)  # ignored events need no ARM
        if _is_ops(args):
            from handlers.ops.commands import run

            return await run(warden, args)
        if events is not None:
            outcomes = await warden.handle_events(events)
        elif args.command == "plan":
            outcomes = [await warden.plan_app(args.app_id)]
            problems = [o.error or o.result for o in outcomes if o.result == "refused"]
        else:
            outcomes, problems = await _reconcile(warden, args)
    _print_outcomes(outcomes)
    for problem in problems:
        sys.stderr.write(f"error: {problem}\n")
    return EXIT_USAGE if problems else exit_code(outcomes)


async def _credential_check(warden: Any, args: argparse.Namespace) -> None:
    """Get a token before touching anything: no credential at all is a usage error (exit 2,
    saying what was tried). A token that fails transiently stops the other commands (75),
    but not ``handle``: it prints one outcome line per event, ``retry`` for each."""
    from handlers.errors import NoCredential, Transient

    try:
        await warden.arm.own_identity()
    except Transient as e:
        if args.command != "handle" or isinstance(e, NoCredential):
            raise


def _events(args: argparse.Namespace) -> list[AppEvent] | None:
    """The events of ``handle``'s payload, parsed once; None for every other command."""
    if args.command != "handle":
        return None
    from handlers.events import parse_payload

    return parse_payload(args.payload)


async def _reconcile(warden: Any, args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    """The sweep, and what made it unable to sweep a subscription given to it (exit 2).

    Subscriptions come from ``--subscription``, else ``WARDEN_SUBSCRIPTIONS``, else every
    one the identity can read. One that is malformed, missing or unreadable is named and
    skipped; the others are swept.
    """
    from handlers.ops.tenant import given_subscriptions, unreadable, unswept
    from handlers.report import summary, tally

    given, source = given_subscriptions(args.subscriptions)
    sys.stderr.write("reconcile: sweeping container apps and jobs...\n")
    outcomes = await warden.reconcile_all(given or None)
    problems: list[str] = []
    for o in outcomes:
        if o.result != "refused":
            continue
        if o.app is None:  # malformed, or the subscriptions could not be listed
            problems.append(f"{o.error} (from {source})" if given else str(o.error))
        elif (sub := unswept(o)) is not None:
            problems.append(unreadable(sub, source, o.error))
    done = summary(tally(o.result for o in outcomes)) or "no apps or jobs"
    sys.stderr.write(f"reconcile: done: {done}\n")
    return outcomes, problems


def _is_ops(args: argparse.Namespace) -> bool:
    """Whether `args` is one of the operator's commands (handlers.ops)."""
    return args.command in ("explain", "inventory", "release") or (
        args.command == "plan" and bool(args.all or args.policy))


def _usage(args: argparse.Namespace) -> str | None:
    """What is wrong with the operator commands' options (argparse cannot say), or None."""
    from handlers.ids import WORKLOAD_TYPES, workload_id

    if args.command not in ("plan", "explain", "release"):
        return None
    if args.command == "plan":
        if bool(args.app_id) == bool(args.all):
            return "plan: give APP_ID or --all (not both)"
        if args.subscriptions and not args.all:
            return "plan: --subscription goes with --all"
        if args.json and not args.policy:
            return "plan: --json goes with --policy (plan prints JSON lines already)"
    if args.command == "release":
        if args.app_id and (args.resource_group or args.subscriptions):
            return "release: give APP_ID, or --resource-group / --subscription, not both"
        if not (args.app_id or args.resource_group or args.subscriptions):
            return ("release: say what to release: APP_ID, --resource-group RG or "
                    "--subscription ID")
    if args.app_id and workload_id(args.app_id) is None:
        forms = " or ".join(f"/subscriptions/<id>/resourceGroups/<rg>/providers/{w.type}"
                            "/<name>" for w in WORKLOAD_TYPES)
        return f"not a container app or job id: {args.app_id!r} (expected {forms})"
    return None


def _not_in_this_build(command: str, e: ModuleNotFoundError) -> int:
    """The development tools are not deployed: say so instead of a traceback."""
    if e.name not in (command, f"{command}.cli"):
        raise e
    sys.stderr.write(f"error: the {command} command is not available in this build\n")
    return EXIT_USAGE


def _emulator(argv: list[str]) -> int:
    try:
        from emulator.cli import main as run
    except ModuleNotFoundError as e:
        return _not_in_this_build("emulator", e)
    return int(run(argv) or 0)


def _bench(argv: list[str]) -> int:
    try:
        from bench import main as run
    except ModuleNotFoundError as e:
        return _not_in_this_build("bench", e)
    return int(run(argv) or 0)


def _demo(args: argparse.Namespace) -> int:
    try:
        from demo import main as run
    except ModuleNotFoundError as e:
        return _not_in_this_build("demo", e)
    return int(run(args) or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m handlers``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    # `emulator` and `bench` own their options: pass everything after the command through.
    for i, a in enumerate(argv):
        if not a.startswith("-"):
            if a == "emulator":
                return _emulator(argv[i + 1:])
            if a == "lint":
                from handlers.lint.cli import main as lint

                return int(lint(argv[i + 1:]) or 0)
            if a == "bench":
                return _bench(argv[i + 1:])
            break
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if args.command == "serve":
        # A long-running host: its operators want one line per outcome, and every
        # rejected request, by default.
        if args.verbose == 0:
            logging.getLogger("aca_warden").setLevel(logging.INFO)
            logging.getLogger("handlers.serve").setLevel(logging.INFO)
        from handlers.serve import main as serve

        return int(serve(args) or 0)
    if args.command == "demo":
        return _demo(args)

    from handlers.errors import ArmError, NoCredential, PolicyError, Transient

    try:
        if args.command == "handle":
            args.payload = _read_events(args.file)
        problem = _usage(args)
        if problem is not None:
            sys.stderr.write(f"error: {problem}\n")
            return EXIT_USAGE
        return asyncio.run(_run_warden(args))
    except (PolicyError, NoCredential) as e:
        sys.stderr.write(f"error: {e}\n")
        return EXIT_USAGE
    except ArmError as e:
        sys.stderr.write(f"error: {e}\n")
        return EXIT_RETRY if isinstance(e, Transient) else EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except SystemExit as e:
        return int(e.code or 0)
    except Exception:
        logging.getLogger("aca_warden").exception("unexpected internal error")
        return EXIT_ERROR
