"""The operator's toolkit: ``explain``, ``inventory``, ``plan --all [--policy]``, ``release``.

Every command is built on the converge core (handlers.observe reads,
handlers.plan decides, handlers.apply writes, handlers.report words it), so it
shows exactly what the service would do: there is no second copy of a decision
here, only reading, comparing and wording. Each module has a pure part (data in,
a frozen view out, rendered as text for people or JSON for scripts) and an async
part that gathers the snapshots; :mod:`handlers.ops.commands` runs them for the
command line.
"""
