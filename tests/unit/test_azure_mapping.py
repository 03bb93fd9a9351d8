"""handlers.azure without a network: error mapping, token claims, the write pacer."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from types import SimpleNamespace

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError

from handlers.azure import to_arm_error, token_claims
from handlers.errors import Permanent, Transient
from handlers.pacer import WritePacer, _Bucket


def http_error(status: int, code: str | None = None) -> HttpResponseError:
    e = HttpResponseError(message=f"{status} {code}")
    e.status_code = status
    e.error = SimpleNamespace(code=code, message="m") if code else None
    return e


@pytest.mark.parametrize(
    ("status", "code", "app_level", "kind"),
    [
        (408, None, False, Transient),
        (429, "TooManyRequests", False, Transient),
        (500, None, False, Transient),
        (503, "ServiceUnavailable", False, Transient),
        (409, "AnotherOperationInProgress", False, Transient),
        (409, "RoleAssignmentExists", False, Permanent),
        (400, "PrincipalNotFound", False, Transient),
        (403, "AuthorizationFailed", True, Transient),
        (403, "AuthorizationFailed", False, Permanent),
        (404, "ResourceNotFound", False, Permanent),
        (400, "InvalidRequestContent", True, Permanent),
    ],
)
def test_arm_errors_map_per_contract(status, code, app_level, kind):
    err = to_arm_error(http_error(status, code), "doing", app_level=app_level)
    assert type(err) is kind
    assert err.status == status and err.code == code
    assert str(err).startswith("doing: ")


def test_network_errors_are_transient():
    assert isinstance(to_arm_error(ServiceRequestError("refused"), "x"), Transient)
    assert isinstance(to_arm_error(TimeoutError(), "x"), Transient)


def test_token_claims_are_read_without_verification():
    payload = base64.urlsafe_b64encode(json.dumps({"oid": "o", "appid": "a"}).encode())
    token = "h." + payload.decode().rstrip("=") + ".sig"
    assert token_claims(token) == {"oid": "o", "appid": "a"}
    assert token_claims("not a jwt") == {}


def test_pacer_buckets_by_subscription():
    pacer = WritePacer()
    a = pacer.bucket("https://x/subscriptions/AAA/resourceGroups/r?api-version=1")
    assert a is pacer.bucket("https://x/subscriptions/aaa/providers/p")
    assert a is not pacer.bucket("https://x/subscriptions/bbb/providers/p")


async def test_bucket_paces_to_refill_once_arm_says_it_is_empty():
    b = _Bucket(refill=50.0)
    await b.acquire()  # the probe
    b.inflight -= 1
    b.observe(200, {"x-ms-ratelimit-remaining-subscription-writes": "0"})
    start = time.monotonic()
    for _ in range(5):
        await b.acquire()
        b.inflight -= 1
    assert time.monotonic() - start >= 4 / 50


async def test_bucket_sends_freely_while_arm_reports_plenty():
    b = _Bucket(refill=10.0)
    await b.acquire()
    b.inflight -= 1
    b.observe(200, {"x-ms-ratelimit-remaining-subscription-writes": "1199"})
    start = time.monotonic()
    for _ in range(100):
        await b.acquire()
        b.inflight -= 1
    assert time.monotonic() - start < 0.5


async def test_bucket_blocks_after_429_until_retry_after():
    b = _Bucket(refill=1000.0)
    b.tokens = 100.0
    b.observe(429, {"Retry-After": "0.2"})
    start = time.monotonic()
    await b.acquire()
    assert time.monotonic() - start >= 0.19


async def test_probe_lets_one_write_out_until_the_first_answer():
    b = _Bucket(refill=10.0)
    await b.acquire()
    second = asyncio.ensure_future(b.acquire())
    await asyncio.sleep(0.05)
    assert not second.done()
    b.inflight -= 1
    b.observe(200, {"x-ms-ratelimit-remaining-subscription-writes": "10"})
    await asyncio.wait_for(second, 1)


def _jwt(claims: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"h.{body}.s"


class _Cred:
    def __init__(self, claims: dict) -> None:
        self.claims = claims

    async def get_token(self, *scopes: str, **kw: object) -> SimpleNamespace:
        return SimpleNamespace(token=_jwt(self.claims), expires_on=0)

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"oid": "O", "appid": "A", "idtyp": "app"}, ("o", "a")),
        ({"oid": "O", "azp": "A"}, ("o", "a")),
        ({"oid": "O", "appid": "cli", "idtyp": "user"}, (None, None)),
        ({"oid": "O", "appid": "cli", "scp": "user_impersonation"}, (None, None)),
    ],
)
async def test_own_identity_only_for_service_tokens(claims, expected):
    from handlers.azure import Arm

    arm = Arm("https://arm.invalid", credential_factory=lambda: _Cred(claims))
    assert await arm.own_identity() == expected
    await arm.close()


def test_each_pipeline_gets_a_pacer_policy_of_its_own_sharing_the_buckets():
    # an azure-core policy links to the next policy of its pipeline: one instance shared
    # by two pipelines would send the first's requests down the second's
    pacer = WritePacer()
    first, second = pacer.policy(), pacer.policy()
    assert first is not second
    assert first._owner is second._owner is pacer
