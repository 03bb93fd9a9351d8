"""Errors of aca-warden, and which of them Event Grid should retry.

::

    WardenError                 base of everything raised on purpose
     ├── PolicyError            the policy file is unusable: exit 2, before any ARM call
     └── ArmError               ARM (or the way to it) failed; carries status and code
          ├── Transient         try again later: network errors and timeouts, 408, 429,
          │                     5xx, 409 "operation in progress", PrincipalNotFound,
          │                     403 on reading or patching the app. The event's
          │                     outcome is "retry"; `handle` exits 75, the webhook 5xx.
          │    └── NoCredential no credential at all (every source azure-identity tries
          │                     is unavailable): a service retries (nothing is lost while
          │                     an operator fixes it); the command line exits 2 with what
          │                     was tried.
          └── Permanent         any other 4xx: reported (a grant is refused, or the
                                outcome's `error`), never retried.

Anything else escaping is a bug: outcome "retry" for the event (nothing is
lost), logged with its traceback; `handle` exits 1 only when it cannot go on.
"""

from __future__ import annotations

__all__ = ["ArmError", "NoCredential", "Permanent", "PolicyError", "Transient", "WardenError"]


class WardenError(Exception):
    """Base class of aca-warden's own errors."""


class PolicyError(WardenError):
    """The policy file cannot be used; the message names file, key and expectation."""


class ArmError(WardenError):
    """A failed ARM call."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code


class Transient(ArmError):
    """A failure that a later delivery of the event may not meet."""


class Permanent(ArmError):
    """A failure that retrying cannot fix."""


class NoCredential(Transient):
    """No credential at all: every source of the credential chain is unavailable."""
