"""A local Azure Resource Manager for aca-warden's tests, demo and benchmarks.

Dev and test tooling only: the service (``handlers/``) never imports it, except
lazily from the ``emulator`` and ``demo`` commands.

::

    async with Emulator(page_size=2, principal_delay_s=0.5) as emu:
        emu.seed_container_app(app_id, identity="SystemAssigned")
        async with emu.person_credential("alice") as cred:
            client = ContainerAppsAPIClient(cred, emu.subscription_id, **emu.client_kwargs())
        ...
        emu.count(kind="write"); emu.events; emu.role_assignments()

Modules: ``core`` (server, request pipeline, public API), ``router`` (paths),
``apps`` / ``resources`` / ``groups`` / ``authz`` (ARM resource handlers),
``operations`` / ``rbac`` / ``abac`` (authorization of every request),
``deployment`` (the service's roles from ``infra/roles.json``),
``lro`` (long-running operations), ``events`` (Event Grid events and webhook
delivery), ``auth`` / ``msi`` (tokens), ``faults`` (faults, write bucket),
``seed`` (seeding and inspection), ``thread`` (EmulatorThread), ``cli``.
"""

from __future__ import annotations

from .core import Emulator, RequestRecord
from .deployment import Deployment
from .thread import EmulatorThread

__all__ = ["Deployment", "Emulator", "EmulatorThread", "RequestRecord"]
