"""TLS, the managed-identity endpoint, bearer tokens and api-version."""

from __future__ import annotations

import base64
import json
import pathlib
import ssl

import aiohttp
import pytest

from emulator import Emulator


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


async def test_tls_is_trusted_only_with_the_emulator_ca(emu: Emulator) -> None:
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await s.get(emu.endpoint + "/subscriptions?api-version=2022-12-01",
                        ssl=ssl.create_default_context())
    assert emu.endpoint.startswith("https://127.0.0.1:")


def test_ca_file_is_a_pem_certificate() -> None:
    import asyncio

    async def ca_text() -> str:
        async with Emulator(time_scale=0) as e:
            return await asyncio.to_thread(pathlib.Path(e.ca_path).read_text, encoding="ascii")

    assert "BEGIN CERTIFICATE" in asyncio.run(ca_text())


async def test_env_names_every_contract_variable(emu: Emulator) -> None:
    env = emu.env
    assert set(env) == {"WARDEN_ARM_ENDPOINT", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
                        "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AZURE_SUBSCRIPTION_ID"}
    assert env["WARDEN_ARM_ENDPOINT"] == emu.endpoint
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == emu.ca_path
    assert env["AZURE_SUBSCRIPTION_ID"] == emu.subscription_id


async def test_identity_endpoint_answers_like_app_service(emu: Emulator, session) -> None:
    url = emu.env["IDENTITY_ENDPOINT"]
    params = {"resource": emu.endpoint, "api-version": "2019-08-01"}
    headers = {"X-IDENTITY-HEADER": emu.identity_header}
    async with session.get(url, params=params, headers=headers) as r:
        assert r.status == 200
        body = await r.json()
    assert set(body) >= {"access_token", "expires_on", "resource", "token_type"}
    assert body["token_type"] == "Bearer" and body["resource"] == emu.endpoint
    assert isinstance(body["expires_on"], str) and int(body["expires_on"]) > 0
    claims = _claims(body["access_token"])
    assert claims["oid"] == emu.service_oid and claims["appid"] == emu.service_appid
    assert claims["tid"] == emu.tenant_id and claims["aud"] == emu.endpoint
    assert claims["exp"] == int(body["expires_on"])
    assert emu.count(kind="token") == 1 and emu.count() == 0


@pytest.mark.parametrize(
    ("headers", "params", "status"),
    [
        ({}, {"resource": "x", "api-version": "2019-08-01"}, 401),
        ({"X-IDENTITY-HEADER": "wrong"}, {"resource": "x", "api-version": "2019-08-01"}, 401),
        (None, {"api-version": "2019-08-01"}, 400),
        (None, {"resource": "x", "api-version": "2017-09-01"}, 400),
    ],
)
async def test_identity_endpoint_refuses_bad_requests(emu, session, headers, params, status):
    hdrs = {"X-IDENTITY-HEADER": emu.identity_header} if headers is None else headers
    async with session.get(emu.env["IDENTITY_ENDPOINT"], params=params, headers=hdrs) as r:
        assert r.status == status


async def test_identity_endpoint_issues_user_assigned_identity_tokens(emu, session) -> None:
    uami = emu.seed_identity(f"/subscriptions/{emu.subscription_id}/resourceGroups/rg"
                             "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/u1")
    params = {"resource": "https://x", "api-version": "2019-08-01",
              "client_id": uami["properties"]["clientId"]}
    async with session.get(emu.env["IDENTITY_ENDPOINT"], params=params,
                           headers={"X-IDENTITY-HEADER": emu.identity_header}) as r:
        token = (await r.json())["access_token"]
    assert _claims(token)["oid"] == uami["properties"]["principalId"]


async def test_arm_without_bearer_is_401(anon) -> None:
    status, body, headers = await anon("GET", "/subscriptions")
    assert status == 401
    assert body["error"]["code"] == "AuthenticationFailed"
    assert "WWW-Authenticate" in headers


@pytest.mark.parametrize("kind", ["garbage", "forged", "expired"])
async def test_invalid_bearer_is_401(emu: Emulator, make_raw, kind: str) -> None:
    from emulator.auth import TokenIssuer

    if kind == "garbage":
        token = "not-a-jwt"
    elif kind == "forged":
        token = TokenIssuer(b"other secret", emu.tenant_id).mint(oid=emu.service_oid,
                                                                 audience="x")[0]
    else:
        token = emu.issuer.mint(oid=emu.service_oid, audience="x", lifetime_s=-10)[0]
    status, body, _ = await make_raw(token)("GET", "/subscriptions")
    assert status == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"


async def test_missing_api_version_is_400(raw) -> None:
    status, body, headers = await raw("GET", "/subscriptions", api_version=None)
    assert status == 400
    assert body["error"]["code"] == "MissingApiVersionParameter"
    assert headers["x-ms-request-id"] and headers["x-ms-correlation-request-id"]


async def test_person_tokens_are_users_with_stable_object_ids(emu: Emulator) -> None:
    async with emu.person_credential("bob") as cred:
        token = await cred.get_token(emu.endpoint + "/.default")
        info = await cred.get_token_info(emu.endpoint + "/.default")
    claims = _claims(token.token)
    assert claims["oid"] == emu.person_oid("bob") == _claims(emu.person_token("bob"))["oid"]
    assert claims["idtyp"] == "user" and claims["appid"] != emu.service_appid
    assert claims["aud"] == emu.endpoint and token.expires_on > 0
    assert _claims(info.token)["oid"] == claims["oid"]
    assert emu.principal(claims["oid"]).type == "User"
    assert emu.person_oid("alice") != claims["oid"]


async def test_identity_endpoint_issues_person_tokens_for_out_of_process_scripts(
    emu: Emulator, session
) -> None:
    params = {"resource": emu.endpoint, "api-version": "2019-08-01", "person": "carol"}
    async with session.get(emu.env["IDENTITY_ENDPOINT"], params=params,
                           headers={"X-IDENTITY-HEADER": emu.identity_header}) as r:
        assert r.status == 200
        token = (await r.json())["access_token"]
    claims = _claims(token)
    assert claims["oid"] == emu.person_oid("carol") != emu.service_oid
    assert emu.principal(claims["oid"]).type == "User"
    async with session.get(emu.env["IDENTITY_ENDPOINT"], params=params) as r:
        assert r.status == 401  # the identity header is still required
