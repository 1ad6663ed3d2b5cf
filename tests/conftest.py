"""Hypothesis profiles. The default, "ci", keeps the whole suite under a few
minutes on 2 cores and is derandomized, so a CI failure reproduces exactly.
Pick another with HYPOTHESIS_PROFILE=dev (more examples, random) or
HYPOTHESIS_PROFILE=thorough (many more)."""

import os

from hypothesis import HealthCheck, settings

common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("ci", max_examples=15, derandomize=True, print_blob=True, **common)
settings.register_profile("dev", max_examples=50, **common)
settings.register_profile("thorough", max_examples=500, **common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
