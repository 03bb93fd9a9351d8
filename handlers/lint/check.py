"""The checks: each grant tag of a workload, against the policy and the role catalog.

The same rules as the service, from the same code: :func:`handlers.grants.parse_grant_tags`
(grammar, scope, ``allowed_scopes``), :func:`handlers.grants.classify_role` (privilege
floor, broad roles) and :func:`handlers.grants.role_allowed` (``allowed_roles``). What
the service would read from ARM comes from the catalog instead; whether a scope exists
is not checked (that needs Azure).

Where the code leaves something to the deployment, lint says "not checked" and why:

* a tag value (or part of one) built from a parameter or an expression it cannot
  evaluate; the parts it can see are still checked (``Owner@${scope}`` is refused);
* tags that come whole from somewhere it cannot see (``tags: commonTags``);
* a scope whose place within ``allowed_scopes`` depends on the subscription,
  resource group or location the app is deployed to: ``{subscription}`` and
  ``{resourceGroup}`` in ``allowed_scopes`` are the app's own, which a template
  leaves to its deployment (``.``, relative scopes and ``resourceGroup().id`` are
  the app's own too, and pass); ``--subscription``, ``--resource-group`` and
  ``--location`` say where it goes.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from handlers.grants import (
    Refusal,
    classify_role,
    parse_grant_tags,
    parse_grant_value,
    role_allowed,
)
from handlers.lint.catalog import RoleCatalog
from handlers.lint.model import Finding, TagEntry, Workload
from handlers.lint.values import Text, Unknown, Value, describe, has_stand_in, known_when, stand_in
from handlers.policy import Policy

__all__ = ["Checker"]

# marks the unknown parts of a value while it is split into items: printable (so reasons
# that quote an item with repr() keep it), and no template writes it
_OPEN = "\u27e6"
_HOLE = _OPEN + "{}\u27e7"
_SCOPE_RULES = ("scope", "allowed_scopes")
_Result = tuple[str, bool]  # (reason, not checked)
_SOME_ROLE = "Reader"  # stands in for an unknown role while its scope is checked


def _display(value: Value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Text):
        return "".join(p if isinstance(p, str) else f"<{p.what}>" for p in value.parts)
    return f"<{describe(value)}>"


class Checker:
    """Checks workloads; `arm_used` says whether unknown roles were looked up in ARM."""

    def __init__(self, policy: Policy, catalog: RoleCatalog, arm_used: bool = False,
                 arm_errors: dict[str, str] | None = None) -> None:
        self.policy = policy
        self.catalog = catalog
        self.arm_used = arm_used
        self.arm_errors = arm_errors or {}

    # -- what is managed at all --------------------------------------------------------------
    def manages(self, w: Workload) -> bool:
        """False for an app the service leaves alone: opted out, or outside resource_groups."""
        opt_out = self.policy.opt_out_tag.lower()
        for tag in w.tags:
            if isinstance(tag.name, str) and tag.name.lower() == opt_out and \
                    isinstance(tag.value, str) and tag.value.strip().lower() == "true":
                return False
        rg = w.placement.resource_group
        if has_stand_in(rg):
            return True
        return any(fnmatch.fnmatchcase(rg.lower(), g.lower()) for g in self.policy.resource_groups)

    def app_id(self, w: Workload) -> str:
        name = w.name if isinstance(w.name, str) and w.name and "/" not in w.name \
            else stand_in("{name}")
        return f"{w.placement.group_id}/providers/{w.type}/{name}"

    # -- checks ------------------------------------------------------------------------------
    def check(self, w: Workload) -> list[Finding]:
        if not self.manages(w):
            return []
        out: list[Finding] = []
        for line, unknown in w.hidden:
            out.append(Finding(w.file, line, "tags", f"not checked: tags come from "
                               f"{unknown.what}, known only {unknown.when}; grant tags among "
                               "them are not checked", True))
        for tag in w.tags:
            out += self.check_tag(w, tag)
        return out

    def is_grant_tag(self, name: Value) -> bool | None:
        """True / False, or None when the name is built from something unknown."""
        prefix = self.policy.tag_prefix.lower()
        if isinstance(name, str):
            return name.lower().startswith(prefix)
        head = name.parts[0] if isinstance(name, Text) and name.parts else None
        if isinstance(head, str) and (len(head) >= len(prefix) or
                                      not prefix.startswith(head.lower())):
            return head.lower().startswith(prefix)
        return None

    def check_tag(self, w: Workload, tag: TagEntry) -> list[Finding]:
        shown_name = _display(tag.name)
        grant = self.is_grant_tag(tag.name)
        if grant is False:
            return []
        results: list[_Result] = []
        if grant is None:
            results.append((f"not checked: the tag name is built from {describe(tag.name)}, "
                            "so it may be a grant tag", True))
            return self.findings(w, tag, shown_name, results)
        name = tag.name if isinstance(tag.name, str) else "".join(
            p if isinstance(p, str) else "x" for p in tag.name.parts)
        value = tag.value
        if isinstance(value, Unknown):
            results.append((f"not checked: the value is {value.what}, known only {value.when}",
                            True))
        elif not isinstance(value, Text):
            results += self.check_value(w, name, value)
        else:  # a value with unknown parts: check what can be seen, say what cannot
            results.append((f"not checked: the value uses {describe(value)}, known only "
                            f"{known_when(value)}", True))
            marked = "".join(p if isinstance(p, str) else _HOLE.format(i)
                             for i, p in enumerate(value.parts))
            for item in parse_grant_value(marked):
                if isinstance(item, str):
                    if _OPEN not in item:
                        results.append((self.unmark(item, value), False))
                    continue
                role, scope = item
                if _OPEN in role and _OPEN in scope:
                    continue
                if _OPEN in role:
                    found = self.check_value(w, name, f"{_SOME_ROLE}@{scope}", part="scope")
                elif _OPEN in scope:
                    found = self.check_value(w, name, f"{role}@.", part="role")
                else:
                    found = self.check_value(w, name, f"{role}@{scope}")
                results += [(self.unmark(r, value), nc) for r, nc in found]
        return self.findings(w, tag, shown_name, results)

    @staticmethod
    def findings(w: Workload, tag: TagEntry, name: str, results: list[_Result]) -> list[Finding]:
        return [Finding(tag.file or w.file, tag.line, name, reason, not_checked)
                for reason, not_checked in results]

    @staticmethod
    def unmark(text: str, value: Text) -> str:
        for i, part in enumerate(value.parts):
            if isinstance(part, Unknown):
                text = text.replace(_HOLE.format(i), f"<{part.what}>")
        return text

    def check_value(self, w: Workload, name: str, value: Value,
                    part: str = "all") -> list[_Result]:
        """What is wrong with a known value of grant tag `name` (`part`: all, scope, role)."""
        location = w.location if isinstance(w.location, str) and w.location \
            else stand_in("{location}")
        requests, refusals = parse_grant_tags({name: value}, self.policy, self.app_id(w),
                                              location)
        out: list[_Result] = []
        for refusal in refusals:
            about_scope = refusal.rule in _SCOPE_RULES
            if (part == "scope" and not about_scope) or (part == "role" and about_scope):
                continue
            out.append(self.scope_depends(refusal) or (refusal.reason, False))
        if part != "scope":
            for request in requests:
                reason = self.role_reason(request.role)
                if reason is not None:
                    out.append(reason)
        return out

    @staticmethod
    def scope_depends(refusal: Refusal) -> _Result | None:
        """Not checked, when an allowed_scopes refusal hangs on where the app is deployed."""
        if refusal.rule != "allowed_scopes" or not has_stand_in(refusal.reason):
            return None
        return (f"not checked: {refusal.reason}; whether it is admitted depends on the "
                "subscription, resource group or location the app is deployed to (give "
                "--subscription, --resource-group, --location)", True)

    def role_reason(self, role: str) -> _Result | None:
        found = self.catalog.find(role)
        if found is None:
            if role in self.arm_errors:
                return (f"not checked: role '{role}' could not be looked up in ARM: "
                        f"{self.arm_errors[role]}", True)
            if self.arm_used:
                return (f"unknown role '{role}': no role definition with that name, GUID or "
                        "id, built-in or in ARM; use a role name as Azure shows it or its "
                        "GUID", False)
            return (f"unknown role '{role}': not one of Azure's built-in roles; a custom role "
                    "is looked up in ARM only with --arm", False)
        level = classify_role(found.permissions)
        reason = role_allowed(found.name, found.guid, level.level, self.policy, level.why)
        return None if reason is None else (reason, False)

    def roles_in(self, workloads: Iterable[Workload]) -> list[str]:
        """Every role the grant tags of `workloads` name that the catalog does not know."""
        out: list[str] = []
        for w in workloads:
            for tag in w.tags:
                if not self.is_grant_tag(tag.name) or not isinstance(tag.value, str | Text):
                    continue
                text = tag.value if isinstance(tag.value, str) else "".join(
                    p if isinstance(p, str) else _OPEN for p in tag.value.parts)
                for item in parse_grant_value(text):
                    if isinstance(item, tuple) and _OPEN not in item[0] and \
                            self.catalog.find(item[0]) is None and item[0] not in out:
                        out.append(item[0])
        return out
