"""No credential at all (exit 2, what was tried) versus a credential that failed (retry)."""

from __future__ import annotations

from typing import Any

import pytest
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import CredentialUnavailableError
from azure.identity.aio import ChainedTokenCredential

from handlers.armdata import credential_attempts
from handlers.azure import Arm
from handlers.errors import NoCredential, Transient


class Unavailable:
    def __init__(self, why: str) -> None:
        self.why = why

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise CredentialUnavailableError(self.why)

    async def close(self) -> None:
        pass


class Failing(Unavailable):
    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise ClientAuthenticationError(self.why)


def named(cls: type, name: str, why: str) -> Any:
    """An instance of a subclass of `cls` called `name` (the chain names sources by class)."""
    return type(name, (cls,), {})(why)


async def own_identity_error(*credentials: Any) -> BaseException:
    arm = Arm("https://arm.invalid", credential_factory=lambda: ChainedTokenCredential(
        *credentials))
    try:
        with pytest.raises(Transient) as caught:
            await arm.own_identity()
    finally:
        await arm.close()
    return caught.value


async def test_every_source_unavailable_is_no_credential_naming_each() -> None:
    e = await own_identity_error(named(Unavailable, "EnvCred", "no variables"),
                                 named(Unavailable, "CliCred", "az not on PATH"))
    assert isinstance(e, NoCredential)
    assert "EnvCred: no variables" in str(e) and "CliCred: az not on PATH" in str(e)


async def test_a_source_that_fails_for_real_is_transient_not_no_credential() -> None:
    e = await own_identity_error(named(Unavailable, "EnvCred", "no variables"),
                                 named(Failing, "ImdsCred", "IMDS said 500"),
                                 named(Unavailable, "CliCred", "az not on PATH"))
    assert not isinstance(e, NoCredential) and "IMDS said 500" in str(e)


async def test_a_single_credential_that_is_unavailable_is_no_credential() -> None:
    arm = Arm("https://arm.invalid", credential_factory=lambda: Unavailable("nothing here"))
    try:
        with pytest.raises(NoCredential, match="nothing here"):
            await arm.own_identity()
    finally:
        await arm.close()


def test_credential_attempts_reads_the_chains_message() -> None:
    message = ("DefaultAzureCredential failed to retrieve a token from the included "
               "credentials.\nAttempted credentials:\n\tEnvironmentCredential: Environment"
               "Credential authentication unavailable.\nVisit https://aka.ms/x to "
               "troubleshoot this issue.\n\tAzureCliCredential: Azure CLI not found on path"
               "\nTo mitigate this issue, please refer to https://aka.ms/y.")
    assert credential_attempts(message) == {
        "EnvironmentCredential": "EnvironmentCredential authentication unavailable.",
        "AzureCliCredential": "Azure CLI not found on path"}
    assert credential_attempts("something else") == {}
