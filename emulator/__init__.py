"""A local Azure Resource Manager for aca-warden's tests, demo and benchmarks.

Dev and test tooling only: the service (``handlers/``) never imports it, except
lazily from the ``emulator`` and ``demo`` commands.

::

    async with Emulator(time_scale=0, page_size=2, principal_delay_s=0.5) as emu:
        emu.seed_container_app(app_id, identity="SystemAssigned")
        async with emu.person_credential("alice") as cred:
            client = ContainerAppsAPIClient(cred, emu.subscription_id, **emu.client_kwargs())
        ...
        emu.count(kind="write"); emu.events; emu.role_assignments()

``time_scale`` is the fraction of Azure's real time its long-running operations and
Event Grid retries take (1, the default, is real pace; ``pace.py``).

Modules: ``core`` (server, request pipeline, public API), ``router`` (paths),
``workloads`` (container apps and jobs), ``identity``, ``revisions``,
``executions``, ``environments``, ``resources`` / ``groups`` / ``authz``
(other ARM resource handlers), ``views`` (answers by type and api-version),
``providers`` / ``catalog`` (resource providers, api-versions, regions),
``metadata`` (endpoint discovery), ``graph`` (the Microsoft Graph calls of the
Azure CLI), ``roles`` (the built-in roles), ``operations`` / ``rbac`` / ``abac``
(authorization of every request), ``deployment`` (the service's roles from
``infra/roles.json``), ``lro`` / ``pace`` (long-running operations, real pace and
the time scale), ``events`` / ``delivery`` (Event Grid events, webhook delivery
and dead-lettering), ``auth`` / ``msi`` (tokens), ``faults`` (faults, write
bucket), ``seed`` (seeding and inspection), ``thread`` (EmulatorThread), ``cli``.
"""

from __future__ import annotations

from .core import Emulator, RequestRecord
from .deployment import Deployment
from .thread import EmulatorThread

__all__ = ["Deployment", "Emulator", "EmulatorThread", "RequestRecord"]
