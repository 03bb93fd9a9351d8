"""Running the demo: set the world up, tell the story, print the summary, give an exit code."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from demo.org import DEMO_POLICY, Org, seed
from demo.person import signed_in
from demo.report import Check, DemoResult, Narrator, one_line
from demo.story import Story, tell_story
from demo.world import open_world


async def run_demo(out: TextIO | None = None, *, policy_toml: str = DEMO_POLICY,
                   step_timeout: float = 15.0,
                   prepare: Callable[[Any], None] | None = None) -> DemoResult:
    """Tell the whole story; the result says which checks held.

    `policy_toml` is the policy the webhook runs with; `step_timeout` bounds
    each wait for delivery to settle after a step;
    `prepare`, when given, is called with the emulator once the organisation
    is seeded (to inject faults, for instance).
    """
    say = Narrator(out or sys.stdout)
    result = DemoResult()
    started = time.monotonic()
    say.line("aca-warden demo: the whole story against the local Azure emulator "
             "(no Azure account needed)")
    say.line()
    say.line("Setting up")
    try:
        await _run(say, result, policy_toml, step_timeout, prepare)
    except Exception as exc:  # noqa: BLE001 - set-up failed: report it as a failed step
        result.checks.append(Check("0 set-up", "emulator, webhook and organisation ready",
                                   one_line(exc), False))
        say.check(result.checks[-1])
    result.elapsed_s = time.monotonic() - started
    say.summary(result)
    return result


async def _run(say: Narrator, result: DemoResult, policy_toml: str, step_timeout: float,
               prepare: Callable[[Any], None] | None) -> None:
    async with open_world(say, policy_toml, step_timeout) as world:
        org = Org.in_subscription(world.emu.subscription_id)
        say.detail("seeding the organisation:")
        seed(world.emu, org, say)
        if prepare is not None:
            prepare(world.emu)
        async with signed_in(world.emu, org) as person:
            await person.resolve_roles()
            await tell_story(Story(world, org, person, say, result, step_timeout))


def main(args: object = None) -> int:
    """Entry point of `python -m handlers demo`: 0 when every step did what it says."""
    step_timeout = float(getattr(args, "step_timeout", None) or 15.0)
    try:
        result = asyncio.run(run_demo(sys.stdout, step_timeout=step_timeout))
    except KeyboardInterrupt:  # asyncio.run has shut everything down by now
        print("\ndemo interrupted", file=sys.stderr)
        return 130
    return result.exit_code
