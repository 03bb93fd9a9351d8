"""Replays recorded real Azure traffic (``recordings/*.json``) against the emulator.

Each file's interactions are sent in recorded order, with the recording's ids and host
mapped to the emulator's: the all-zero subscription to the emulator's, and every GUID
the recording got from Azure (principals, clients, tenants, operations) to the one the
emulator answered at the same place. What existed before the recording started (the
resource groups, an environment in another group, a vault carrying tags, principals,
custom roles and assignments inherited from above) is seeded first.

An interaction matches when the emulator answers
* the same status code;
* the same long-running-operation headers (``Azure-AsyncOperation``, ``Location``,
  ``Retry-After``: the same ones present, the same URL form);
* a body of the same shape: the same key sets all the way down (identity map keys
  with their casing), values of the same JSON type, and the same values where the
  facts are about values (``EXACT``: ids and their casing, names, types, identity and
  principal types, provisioning states, ``roleDefinitionId``, scopes, locations, ...,
  and ``createdBy`` null in an assignment PUT's answer).

Operation polls run on a clock the replay steps 3 s per poll (as the CLI polled), so
the emulator's real pace meets the recording's: a recorded ``InProgress`` the emulator
already answers ``Succeeded`` is noted, a recorded ``Succeeded`` it still answers
``InProgress`` is polled again (also noted): the counts need not match, the shapes do.
Lists the transcriber reduced (provider answers, RANG#3) may hold more items in the
emulator's answer; an item of a scope the emulator does not have (management groups) is
skipped with its reason. Nothing is skipped silently: the report lists every skip.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RECORDED_HOST = "https://management.azure.com"
ZERO_SUB = "00000000-0000-0000-0000-000000000000"
POLL_GAP_S = 3.0
GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
LRO_HEADERS = ("azure-asyncoperation", "location", "retry-after")
# Keys whose values the facts are about: compared after mapping, case-sensitively.
EXACT = {"id", "name", "type", "principalType", "provisioningState", "roleDefinitionId",
         "scope", "location", "registrationState", "registrationPolicy", "namespace",
         "resourceType", "triggerType", "activeRevisionsMode", "environmentId",
         "managedEnvironmentId", "principalId", "clientId", "tenantId"}
IDENTITY_KEYS = ("id", "resourceType", "applicationId", "name")
# Where Azure made up a GUID the emulator makes up differently: learnt, then mapped.
LEARN = {"principalId", "clientId", "tenantId"}
# Recorded list items of scopes the emulator does not have: skipped, with this reason.
OUT_OF_SLICE_SCOPES = ("/providers/Microsoft.Management/managementGroups/",)
# (file, interaction index) -> why it is outside the emulated slice (none so far: the
# transcriber reduced the recordings to the slice).
SKIP: dict[tuple[str, int], str] = {}
POLL_KINDS = re.compile(r"/(\w+OperationStatuses)/", re.I)


@dataclass
class FileReport:
    name: str
    interactions: int = 0
    matched: int = 0
    skipped: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    skipped_interactions: int = 0
    polls_recorded: int = 0
    polls_sent: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        items = len(self.skipped) - self.skipped_interactions
        return (f"{self.name}: {self.matched}/{self.interactions} matched, "
                f"{self.skipped_interactions} skipped ({items} list items skipped), "
                f"{len(self.mismatches)} mismatched; polls recorded {self.polls_recorded}, "
                f"sent {self.polls_sent}")


REPORTS: dict[str, FileReport] = {}  # the run's replay report, printed at its end


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def load(path: Path) -> list[dict[str, Any]]:
    return list(json.loads(path.read_text(encoding="utf-8"))["interactions"])


def _path(uri: str) -> str:
    return urlsplit(uri).path


def _walk(value: Any) -> Any:
    """Every (key, value) pair of a JSON value, depth first."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield k, v
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


class Replayer:
    """One recording against one emulator."""

    def __init__(self, emu: Any, raw: Any, clock: Clock, name: str,
                 interactions: list[dict[str, Any]]) -> None:
        self.emu, self.raw, self.clock = emu, raw, clock
        self.interactions = interactions
        self.report = FileReport(name, len(interactions))
        self.guids: dict[str, str] = {ZERO_SUB: emu.subscription_id}
        self.op_urls: dict[str, str] = {}  # recorded operation path -> the emulator's URL
        self.seen_ops: set[str] = set()

    # -- mapping --------------------------------------------------------------------------
    def map_text(self, text: str) -> str:
        text = text.replace(RECORDED_HOST, self.emu.endpoint)
        return GUID.sub(lambda m: self.guids.get(m.group(0).lower(), m.group(0)), text)

    def map_value(self, value: Any) -> Any:
        return json.loads(self.map_text(json.dumps(value))) if value is not None else None

    def learn(self, recorded: str, answered: str) -> None:
        rec, emu = GUID.findall(recorded), GUID.findall(answered)
        if len(rec) == len(emu):
            for r, e in zip(rec, emu, strict=True):
                self.guids.setdefault(r.lower(), e.lower())

    # -- what existed before ----------------------------------------------------------------
    def seed(self) -> list[str]:
        """Seed what the recording takes as given; answers what was seeded."""
        emu, seeded = self.emu, []
        created = {_path(i["uri"]).lower() for i in self.interactions if i["method"] == "PUT"}
        produced: set[str] = set()
        for i in self.interactions:
            for m in re.finditer(r"/resourceGroups/([^/?]+)", i["uri"], re.I):
                if m.group(1) not in seeded:
                    emu.seed_resource_group(m.group(1))
                    seeded.append(m.group(1))
            path = _path(i["uri"])
            low = path.lower()
            env = re.match(r"(.*/providers/microsoft\.app/managedenvironments/[^/]+)$", low)
            if env and i["method"] == "GET" and low not in created and i["status"] == 200:
                body = i["response_body"]
                emu.seed_environment(self.map_text(path), body["location"],
                                     properties={"workloadProfiles":
                                                 body["properties"].get("workloadProfiles")})
                created.add(low)
                seeded.append(f"environment {path.rsplit('/', 1)[-1]}")
            tags = re.match(r"(.*)/providers/microsoft\.resources/tags/default$", low)
            if tags and tags.group(1) not in created:
                scope = path[: len(tags.group(1))]
                emu.seed_resource(self.map_text(scope))
                created.add(tags.group(1))
                seeded.append(f"resource {scope.rsplit('/', 1)[-1]}")
            body = i["request_body"]
            props = body.get("properties") if isinstance(body, dict) else None
            if isinstance(props, dict) and "principalId" in props and \
                    props["principalId"].lower() not in produced:
                ptype = ((i["response_body"] or {}).get("properties") or {}).get(
                    "principalType", "ServicePrincipal")
                emu.seed_principal(props["principalId"], ptype)
                produced.add(props["principalId"].lower())
                seeded.append(f"principal {props['principalId'][:8]} ({ptype})")
            role = (props or {}).get("roleDefinitionId") if isinstance(props, dict) else None
            if role:
                guid = role.rsplit("/", 1)[-1]
                if emu.role_definition(guid) is None:
                    emu.seed_role_definition(guid, f"Recorded custom role {guid[:8]}")
                    seeded.append(f"custom role {guid[:8]}")
            for key, value in _walk(i["response_body"]):  # Azure made these
                if key in ("principalId", "clientId") and isinstance(value, str):
                    produced.add(value.lower())
        seeded += self._seed_inherited(created)
        return seeded

    def _seed_inherited(self, created: set[str]) -> list[str]:
        """Assignments a recorded list shows at scopes above what the recording made."""
        out = []
        for i in self.interactions:
            body = i["response_body"]
            if i["method"] != "GET" or not isinstance(body, dict) or "value" not in body:
                continue
            for item in body["value"]:
                props = item.get("properties") or {}
                scope = props.get("scope")
                if (not isinstance(scope, str) or item["id"].lower() in created
                        or any(s in scope for s in OUT_OF_SLICE_SCOPES)
                        or _path(item["id"]).lower() in {_path(x["uri"]).lower()
                                                         for x in self.interactions}):
                    continue
                if self.emu.principal(props["principalId"]) is None:
                    self.emu.seed_principal(props["principalId"], props["principalType"])
                self.emu.seed_role_assignment(
                    self.map_text(scope), props["roleDefinitionId"].rsplit("/", 1)[-1],
                    props["principalId"], name=item["name"],
                    principal_type=props["principalType"])
                out.append(f"assignment {item['name'][:8]} at {scope or '/'}")
        return out

    # -- replay -------------------------------------------------------------------------------
    async def run(self) -> FileReport:
        self.report.notes.append("seeded: " + ", ".join(self.seed()))
        for n, rec in enumerate(self.interactions):
            await self.one(n, rec)
        return self.report

    async def one(self, n: int, rec: dict[str, Any]) -> None:
        where = f"#{n} {rec['method']} {_path(rec['uri'])[-70:]}"
        reason = SKIP.get((self.report.name, n))
        if reason is not None:
            self.report.skipped.append(f"{where}: {reason}")
            self.report.skipped_interactions += 1
            return
        poll = POLL_KINDS.search(_path(rec["uri"]))
        url = self.op_urls.get(_path(rec["uri"]).lower()) if poll else None
        if poll:
            self.report.polls_recorded += 1
            if _path(rec["uri"]).lower() in self.seen_ops:
                self.clock.now += POLL_GAP_S  # the CLI polled about 3 s apart
            self.seen_ops.add(_path(rec["uri"]).lower())
        if url is None:
            url = self.map_text(rec["uri"])
        status, body, headers = await self.send(rec["method"], url, rec["request_body"])
        if poll:
            self.report.polls_sent += 1
            status, body, headers = await self._settle_poll(where, rec, url, status, body,
                                                            headers)
        errors = self.compare_answer(rec, status, body, headers, where)
        if errors:
            self.report.mismatches += errors
        else:
            self.report.matched += 1

    async def send(self, method: str, url: str, body: Any) -> tuple[int, Any, Any]:
        return await self.raw(method, url, self.map_value(body), api_version=None)

    async def _settle_poll(self, where: str, rec: dict[str, Any], url: str, status: int,
                           body: Any, headers: Any) -> tuple[int, Any, Any]:
        recorded = (rec["response_body"] or {}).get("status")
        answered = (body or {}).get("status") if isinstance(body, dict) else None
        if recorded == "InProgress" and answered == "Succeeded":
            self.report.notes.append(f"{where}: recorded InProgress, emulator done sooner")
        extra = 0
        while recorded == "Succeeded" and answered == "InProgress" and extra < 1000:
            self.clock.now += POLL_GAP_S
            status, body, headers = await self.raw("GET", url, api_version=None)
            answered = body.get("status") if isinstance(body, dict) else None
            extra += 1
        if extra:
            self.report.polls_sent += extra
            self.report.notes.append(f"{where}: {extra} more poll(s) before Succeeded")
        return status, body, headers

    # -- comparison -----------------------------------------------------------------------------
    def compare_answer(self, rec: dict[str, Any], status: int, body: Any, headers: Any,
                       where: str) -> list[str]:
        errors = []
        if status != rec["status"]:
            errors.append(f"{where}: status {status}, recorded {rec['status']} ({body})")
            return errors
        errors += self.compare_headers(rec["response_headers"], headers, where)
        # the transcriber cut provider answers down and shortened RANG#3's list
        reduced = "response_body_truncated" in rec or bool(
            re.fullmatch(r"/subscriptions/[^/]+/providers/[^/]+", _path(rec["uri"]), re.I))
        creating_assignment = rec["method"] == "PUT" and "/roleassignments/" in \
            _path(rec["uri"]).lower()
        errors += self.compare(rec["response_body"], body, "", where, reduced,
                               creating_assignment)
        return errors

    def compare_headers(self, recorded: dict[str, str], answered: Any, where: str) -> list[str]:
        errors = []
        want = {h for h in LRO_HEADERS if h in recorded}
        got = {h for h in LRO_HEADERS if h in {k.lower() for k in answered}}
        if want != got:
            return [f"{where}: LRO headers {sorted(got)}, recorded {sorted(want)}"]
        for h in want:
            rec_value = recorded[h]
            value = answered[h] if h in answered else next(
                v for k, v in answered.items() if k.lower() == h)
            if h == "retry-after":
                continue
            if rec_value.startswith("/"):  # a resource id (user-assigned identity's Location)
                if self.map_text(rec_value) != value:
                    errors.append(f"{where}: {h} {value}, recorded {rec_value}")
                continue
            rec_path, got_path = _path(self.map_text(rec_value)), _path(value)
            self.learn(rec_path, got_path)
            self.op_urls[_path(rec_value).lower()] = value
            if GUID.sub("{id}", rec_path) != GUID.sub("{id}", got_path):
                errors.append(f"{where}: {h} {got_path}, recorded {rec_path}")
        return errors

    def compare(self, rec: Any, got: Any, path: str, where: str, reduced: bool,
                creating_assignment: bool) -> list[str]:
        key = path.rsplit(".", 1)[-1]
        if isinstance(rec, dict):
            if not isinstance(got, dict):
                return [f"{where}: {path or 'body'} is {type(got).__name__}, recorded object"]
            if path.endswith("userAssignedIdentities"):  # keys are ids: casing counts
                rec = {self.map_text(k): v for k, v in rec.items()}
            if set(rec) != set(got):
                missing, extra = sorted(set(rec) - set(got)), sorted(set(got) - set(rec))
                return [f"{where}: {path or 'body'} keys: missing {missing}, extra {extra}"]
            errors = []
            for k in rec:
                errors += self.compare(rec[k], got[k], f"{path}.{k}" if path else k, where,
                                       reduced, creating_assignment)
            return errors
        if isinstance(rec, list):
            return self._compare_list(rec, got, path, where, reduced, creating_assignment)
        if key == "createdBy" and creating_assignment and rec is None and got is not None:
            return [f"{where}: {path} {got!r}, recorded null on creation"]
        if rec is None or got is None:
            return []
        if not _same_kind(rec, got):
            return [f"{where}: {path} is {got!r}, recorded {rec!r}"]
        if isinstance(rec, str) and isinstance(got, str):
            if key in LEARN:
                self.learn(rec, got)
            if key in EXACT and self.map_text(rec) != got:
                return [f"{where}: {path} {got!r}, recorded {self.map_text(rec)!r}"]
        return []

    def _compare_list(self, rec: list[Any], got: Any, path: str, where: str, reduced: bool,
                      creating_assignment: bool) -> list[str]:
        if not isinstance(got, list):
            return [f"{where}: {path} is {type(got).__name__}, recorded a list"]
        if len(rec) == len(got) and not reduced:
            errors = []
            for n, (r, g) in enumerate(zip(rec, got, strict=True)):
                errors += self.compare(r, g, f"{path}[{n}]", where, reduced, creating_assignment)
            return errors
        if not reduced:
            return [f"{where}: {path} has {len(got)} items, recorded {len(rec)}"]
        errors = []
        for n, r in enumerate(rec):
            if not isinstance(r, dict):
                if self.map_value(r) not in got:
                    errors.append(f"{where}: {path} lacks {r!r}")
                continue
            scope = (r.get("properties") or {}).get("scope", "")
            if any(s in str(scope) for s in OUT_OF_SLICE_SCOPES):
                self.report.skipped.append(f"{where}: {path}[{n}] at {scope}: management "
                                           "groups are outside the emulated slice")
                continue
            ident = next((k for k in IDENTITY_KEYS if k in r), None)
            match = next((g for g in got if isinstance(g, dict) and ident and
                          str(g.get(ident)).lower() == self.map_text(str(r[ident])).lower()),
                         None)
            if match is None:
                errors.append(f"{where}: {path} lacks the item {ident}={r.get(ident)}")
                continue
            errors += self.compare(r, match, f"{path}[{n}]", where, reduced, creating_assignment)
        return errors


def _same_kind(a: Any, b: Any) -> bool:
    def kind(v: Any) -> str:
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int | float):
            return "number"
        return type(v).__name__
    return kind(a) == kind(b)
