"""Hypothesis profiles of the fuzz suite.

``ci`` (the default, used by ``make test``) keeps the suite to a few seconds;
``fuzz`` (``HYPOTHESIS_PROFILE=fuzz``, what ``make fuzz`` runs) gives every
property test its share (``budget``) of ``FUZZ_EXAMPLES`` per test, at least
100,000 examples in all.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FUZZ_EXAMPLES = int(os.environ.get("WARDEN_FUZZ_EXAMPLES", "100000"))

settings.register_profile(
    "ci", max_examples=60, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz", max_examples=FUZZ_EXAMPLES, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def budget(share: float) -> settings:
    """Settings giving a test ``share`` of FUZZ_EXAMPLES under the fuzz profile.

    Cheap properties get more examples than the ones that run the service path, so
    that ``make fuzz`` stays near a quarter of an hour while running over 100,000.
    """
    if PROFILE != "fuzz":
        return settings()
    return settings(max_examples=max(1, int(FUZZ_EXAMPLES * share)))
