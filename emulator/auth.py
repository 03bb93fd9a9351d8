"""Bearer tokens of the emulator: JWT-shaped, HMAC-signed with a per-run secret.

The service gets its token from the App Service-style managed-identity
endpoint (``IDENTITY_ENDPOINT`` + ``IDENTITY_HEADER``); tests and the demo get
tokens for *persons* (User principals) directly. Any audience is accepted:
the emulator only checks the signature and the expiry.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

__all__ = ["SECRET_LISTENERS", "PersonCredential", "TokenError", "TokenIssuer", "disclose"]

# Whoever must know every secret the emulator hands out or holds (the test suite's leak
# watch, tests/_secret_watch.py) appends a callable here; it is told (kind, value) for
# each token minted, each IDENTITY_HEADER and each container app secret value. Nothing
# is kept when nobody listens.
SECRET_LISTENERS: list[Callable[[str, str], None]] = []


def disclose(kind: str, value: object) -> None:
    """Tell the listeners of a secret (kind: "token", "IDENTITY_HEADER", "secret value")."""
    if SECRET_LISTENERS and isinstance(value, str) and value:
        for listener in list(SECRET_LISTENERS):
            listener(kind, value)

TOKEN_LIFETIME_S = 3600 * 24
# Persons sign in through a client application, as with the Azure CLI, whose
# well-known application id their tokens carry in ``appid``.
PERSON_CLIENT_APPID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"


class TokenError(Exception):
    """The bearer token is missing, malformed, forged or expired."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Mints and verifies the emulator's tokens."""

    def __init__(self, secret: bytes, tenant_id: str) -> None:
        self._secret = secret
        self.tenant_id = tenant_id

    def mint(
        self,
        *,
        oid: str,
        audience: str,
        appid: str | None = None,
        name: str | None = None,
        user: bool = False,
        lifetime_s: int = TOKEN_LIFETIME_S,
    ) -> tuple[str, int]:
        """A signed token and its expiry (epoch seconds)."""
        now = int(time.time())
        exp = now + lifetime_s
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": exp,
            "oid": oid,
            "sub": oid,
            "tid": self.tenant_id,
            "idtyp": "user" if user else "app",
            "ver": "1.0",
        }
        if user and not appid:
            appid = PERSON_CLIENT_APPID
        if appid:
            claims["appid"] = appid
            claims["appidacr"] = "0" if user else "2"
        if name:
            claims["name"] = name
            if user:
                claims["upn"] = f"{name}@emulator.example"
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signing_input = f"{header}.{payload}".encode()
        sig = _b64(hmac.new(self._secret, signing_input, hashlib.sha256).digest())
        token = f"{header}.{payload}.{sig}"
        disclose("token", token)
        return token, exp

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; raises TokenError otherwise."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("The access token is not a JWT.")
        expected = hmac.new(
            self._secret, f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256
        ).digest()
        try:
            given = _unb64(parts[2])
            claims = json.loads(_unb64(parts[1]))
        except (ValueError, json.JSONDecodeError) as exc:
            raise TokenError("The access token is malformed.") from exc
        if not hmac.compare_digest(expected, given) or not isinstance(claims, dict):
            raise TokenError("The access token signature is invalid.")
        if int(claims.get("exp", 0)) < time.time():
            raise TokenError("The access token expiry UTC time is in the past.")
        return claims


def event_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The ``data.claims`` of an ARM event, as ARM expands the caller's token."""
    out: dict[str, Any] = {
        "aud": claims.get("aud"),
        "iss": claims.get("iss"),
        "iat": str(claims.get("iat")),
        "nbf": str(claims.get("nbf")),
        "exp": str(claims.get("exp")),
        "http://schemas.microsoft.com/identity/claims/objectidentifier": claims.get("oid"),
        "http://schemas.microsoft.com/identity/claims/tenantid": claims.get("tid"),
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier": claims.get("sub"),
        "idtyp": claims.get("idtyp"),
        "ver": claims.get("ver", "1.0"),
    }
    if "appid" in claims:
        out["appid"] = claims["appid"]
        out["appidacr"] = claims.get("appidacr", "0")
    if "name" in claims:
        out["name"] = claims["name"]
    if "upn" in claims:
        out["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = claims["upn"]
        out["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"] = claims["upn"]
    return out


class PersonCredential:
    """An azure-core ``AsyncTokenCredential`` that signs in as one person (a User)."""

    def __init__(self, issuer: TokenIssuer, oid: str, name: str) -> None:
        self._issuer = issuer
        self.object_id = oid
        self.name = name

    def _mint(self, scopes: tuple[str, ...]) -> tuple[str, int]:
        scope = scopes[0] if scopes else ""
        audience = scope[: -len("/.default")] if scope.endswith("/.default") else scope
        return self._issuer.mint(oid=self.object_id, audience=audience, name=self.name, user=True)

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        token, exp = self._mint(scopes)
        return AccessToken(token, exp)

    async def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        token, exp = self._mint(scopes)
        return AccessTokenInfo(token, exp)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> PersonCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.close()
