"""``python -m handlers lint FILE ...``: grant tags in infrastructure code, before deployment.

Prints one line per finding, ``FILE:LINE: TAG: reason``, sorted by file and
line, and a summary on stderr. Exit codes: 0 no findings, 1 findings ("not
checked" lines count: lint fails closed, so a tag it cannot see is never taken
as passed), 2 usage (an unreadable or unparsable FILE, a policy the service
would refuse to start with, a bad option); the files that can be read are still
checked and printed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from handlers.errors import PolicyError
from handlers.lint import arm, terraform
from handlers.lint.catalog import RoleCatalog, RoleDef, lookup_in_arm
from handlers.lint.check import Checker
from handlers.lint.files import parse_json, read_text
from handlers.lint.model import Finding, LintError, Report
from handlers.lint.values import Placement, has_stand_in
from handlers.policy import Policy, load_policy, read_policy_file
from handlers.review import review_policy

__all__ = ["Result", "build_parser", "lint_files", "main", "run"]

EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2

_EPILOG = """\
what it reads:
  *.bicep        Bicep (with the local modules it uses)
  *.json         an ARM template (with nested and relatively linked templates), or a
                 Terraform plan: terraform show -json PLAN | jq . > plan.json
                 (azurerm_container_app, azurerm_container_app_job, azapi_resource)

what it checks, with the service's own rules: the grant-tag grammar, the role
(built-in roles offline; custom roles with --arm), the privilege floor, broad
roles, grants.allowed_roles and grants.allowed_scopes. A tag built from a
parameter or an expression lint cannot evaluate is reported "not checked".

example:
  $ python -m handlers lint infra/app.bicep
  infra/app.bicep:21: grant:tags: role Tag Contributor (4a9ae827-...) is broad (its
  action 'Microsoft.Resources/tags/*' allows Microsoft.Resources/tags/write, ...)
  $ echo $?
  1

exit codes:
  0   no findings
  1   findings (refused grants, unknown roles, "not checked" tags)
  2   usage: a FILE that is missing or cannot be parsed, a policy the service would
      refuse, a bad option
"""


def build_parser() -> argparse.ArgumentParser:
    """The options of ``lint``."""
    parser = argparse.ArgumentParser(
        prog="python -m handlers lint", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check the grant tags of container apps and jobs in ARM JSON templates, "
        "Bicep files and Terraform plan JSON against the policy, offline, before they are "
        "deployed. One line per finding: FILE:LINE: TAG: reason.", epilog=_EPILOG)
    parser.add_argument("files", nargs="+", metavar="FILE",
                        help="ARM template (.json), Bicep file (.bicep) or Terraform plan JSON")
    parser.add_argument("--policy", metavar="FILE",
                        help="the policy file (default: WARDEN_POLICY, else ./policy.toml, "
                        "else every default), reviewed as the service reviews its own: one "
                        "the service would refuse is a usage error; warnings go to stderr")
    parser.add_argument("--arm", action="store_true",
                        help="look up roles that are not built-in in ARM (credential and "
                        "endpoint as for the service: WARDEN_ARM_ENDPOINT, azure-identity)")
    parser.add_argument("--subscription", metavar="ID",
                        help="the subscription the templates are deployed to (default: "
                        "unknown; {subscription} then stands for it)")
    parser.add_argument("--resource-group", metavar="NAME",
                        help="the resource group the templates are deployed to (default: "
                        "unknown; {resourceGroup} then stands for it)")
    parser.add_argument("--location", metavar="NAME",
                        help="the location of that resource group (default: unknown)")
    parser.add_argument("--skip-other-json", action="store_true",
                        help="skip a .json FILE that is neither an ARM template nor a Terraform "
                        "plan instead of failing (for hooks that pass every *.json)")
    return parser


def _policy(path: str | None) -> Policy:
    """The policy lint checks against, reviewed as the service reviews its own at start:
    PolicyError for one the service would refuse; the review's warnings go to stderr."""
    policy = load_policy() if path is None else read_policy_file(path)
    for warning in review_policy(policy):
        sys.stderr.write(f"warning: {warning}\n")
    return policy


def _read(path: str, report: Report, prefix: str, placement: Placement,
          skip_other_json: bool = False) -> None:
    """Read one FILE into `report`; LintError when it is not something lint reads."""
    lower = path.lower()
    if lower.endswith(".bicepparam"):
        raise LintError(f"{path}: a Bicep parameters file; lint the .bicep file it is for")
    if lower.endswith((".tf", ".tfvars")):
        raise LintError(f"{path}: Terraform configuration; lint its plan instead: "
                        "terraform plan -out PLAN && terraform show -json PLAN > plan.json")
    text = read_text(path)
    if lower.endswith(".bicep"):
        try:
            from handlers.lint import bicep
        except ModuleNotFoundError as e:  # pycep-parser is a development dependency
            raise LintError(f"{path}: reading Bicep needs pycep-parser ({e.name} is not "
                            "installed): pip install -r requirements-dev.txt") from None
        bicep.read_bicep(path, text, report, prefix, placement)
        return
    doc = parse_json(path, text)
    if arm.is_template(doc):
        arm.read_template(path, doc, report, prefix, placement)
    elif terraform.is_plan(doc):
        terraform.read_plan(path, doc, report, placement)
    elif not skip_other_json:
        raise LintError(f"{path}: JSON, but neither an ARM template (no $schema "
                        "deploymentTemplate or resources) nor a Terraform plan "
                        "(terraform show -json)")


@dataclass
class Result:
    """What a lint run found: findings, errors (each naming its file or option), counts."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    files_read: int = 0
    workloads: int = 0


def lint_files(files: Sequence[str], policy: Policy, *, use_arm: bool = False,
               placement: Placement | None = None, catalog: RoleCatalog | None = None,
               skip_other_json: bool = False) -> Result:
    """Read `files` and check every grant tag of the workloads they deploy."""
    placement = placement or Placement()
    report, result = Report(), Result()
    for path in files:
        try:
            _read(path, report, policy.tag_prefix, placement, skip_other_json)
            result.files_read += 1
        except LintError as e:
            result.errors.append(str(e))
        except RecursionError:
            result.errors.append(f"{path}: nested too deeply to read")
    catalog = catalog or RoleCatalog.builtin()
    checker = Checker(policy, catalog)
    if use_arm:
        unknown = checker.roles_in(report.workloads)
        if unknown:
            try:
                found = asyncio.run(lookup_in_arm(unknown, placement_subscription(placement)))
            except LintError as e:
                result.errors.append(str(e))
                found = {role: "no credential for ARM" for role in unknown}
            for role, looked_up in found.items():
                if isinstance(looked_up, RoleDef):
                    catalog.add(looked_up)
                else:
                    checker.arm_errors[role] = looked_up
        checker.arm_used = True
    found_all = list(report.findings)
    for workload in report.workloads:
        found_all += checker.check(workload)
    order = {path: i for i, path in enumerate(files)}
    unique = dict.fromkeys(found_all)  # a module used twice finds the same thing twice
    result.findings = sorted(unique, key=lambda f: (order.get(f.file, len(order)), f.file,
                                                    f.line))
    result.workloads = len(report.workloads)
    return result


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    """Only errors from `loggers` while lint runs (its own output says the rest)."""
    saved = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        yield
    finally:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def placement_subscription(placement: Placement) -> str | None:
    """The subscription the command line named, if it named one."""
    return None if has_stand_in(placement.subscription) else placement.subscription


def main(argv: Sequence[str]) -> int:
    """Entry point of ``python -m handlers lint``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv))
    except SystemExit as e:
        return int(e.code or 0)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    # a failed --arm is reported per role; the policy's source is in the summary
    with _quiet("azure", "handlers.policy"):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        policy = _policy(args.policy)
    except PolicyError as e:
        sys.stderr.write(f"error: {e}\n")
        return EXIT_USAGE
    for name, value in (("--subscription", args.subscription),
                        ("--resource-group", args.resource_group)):
        if value is not None and (not value or "/" in value or value.strip() != value):
            sys.stderr.write(f"error: {name} {value!r} is not a name (no '/', no spaces)\n")
            return EXIT_USAGE
    defaults = Placement()
    placement = Placement(
        subscription=(args.subscription or defaults.subscription).lower(),
        resource_group=args.resource_group or defaults.resource_group,
        location="".join((args.location or defaults.location).split()).lower())
    result = lint_files(args.files, policy, use_arm=args.arm, placement=placement,
                        skip_other_json=args.skip_other_json)
    for finding in result.findings:
        sys.stdout.write(f"{finding}\n")
    sys.stdout.flush()
    for error in result.errors:
        sys.stderr.write(f"error: {error}\n")
    unchecked = sum(f.not_checked for f in result.findings)
    sys.stderr.write(
        f"lint: {result.files_read} of {len(args.files)} file(s) read, "
        f"{result.workloads} workload(s), {len(result.findings)} finding(s)"
        + (f" ({unchecked} not checked)" if unchecked else "")
        + f"; policy: {policy.source or 'defaults'}\n")
    if result.errors:
        return EXIT_USAGE
    return EXIT_FINDINGS if result.findings else EXIT_CLEAN


def run() -> None:
    """The ``aca-warden-lint`` console script (the pre-commit hook): exits with main's code."""
    sys.exit(main(sys.argv[1:]))
