"""`python -m handlers demo`: the whole story against the local Azure emulator.

Nothing here talks to Azure. The demo starts the emulator (local ARM over
HTTPS) and the aca-warden webhook (the same aiohttp app as `serve`) in this
process, and lets the emulator deliver every ARM event to the webhook exactly
like an Event Grid subscription: validation handshake first, then batches,
with retries on 5xx. Every step of the story is done by a *person* ("alice")
through the real Azure SDK, never by calling the Warden directly, so what the
demo shows is what a deployment does.

After each step the demo waits until Event Grid delivery has settled (every
event the emulator produced has a final outcome from the webhook, or was
dead-lettered, and nothing new has happened for a moment) and then checks the
emulator's state, not the Warden's opinion of it. The webhook's outcomes are
only told (changes, refusals with their reasons), except where the story is
about the outcome itself. The exit code is 0 only when every check held; a
dead-lettered event fails its step; a wait that runs out of time fails the
step and ends the story.

`run_demo(policy_toml=..., prepare=...)` runs the same story against another
policy or with faults injected into the emulator, which is how the tests see
it fail.

The package: `org` (the organisation, its tags
and the demo policy), `world` (emulator, webhook, Event Grid delivery and the
waits on it), `person` (the person's SDK calls), `story` (the seven steps and
their checks), `report` (checks, narrative and summary table) and `run`
(`run_demo` and `main`).
"""

from __future__ import annotations

from demo.org import DEMO_POLICY
from demo.report import Check, DemoResult
from demo.run import main, run_demo

__all__ = ["DEMO_POLICY", "Check", "DemoResult", "main", "run_demo"]
