"""Per-scenario seeds derived from the run's seed.

A scenario's seed depends only on the run's seed and the scenario's name, so
`conformance run --scenario S --seed N` replays exactly the scenario S of `conformance run --scenario all --seed N`,
alone or in parallel with others, in any order.
"""

from __future__ import annotations

import hashlib

#: derived seeds stay short enough to read and type
SEED_RANGE = 1_000_000


def derive_seed(seed: int, scenario: str) -> int:
    digest = hashlib.sha256(f"{seed}:{scenario}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SEED_RANGE
