"""How many detail calls a run may make: a share of the rate budget Strava reports as left.

Listing comes first and is never cut short (a day snapshot must be whole); the detail, stream and gear
calls that follow share what the listing left: ``strava.details_budget_share`` of the requests left in
the tighter of the 15-minute and the daily window, less a margin, decided once from the usage the
listing's last answer reported. What does not fit stays in the backlog (:mod:`datalake.strava.backlog`)
for a later run, so a run never waits for a window for details and never meets a 429 for them, and the
part of the budget kept back leaves room for the next run's listing (a backfill's next interval, the
daily run next to a backfill).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from datalake.strava.client import RateLimits

MARGIN = 2  # requests never used for details: the next run's listing (a page and the empty page)


@dataclass(frozen=True)
class Budget:
    """The share of the remaining rate budget detail calls may use (0 < share <= 1)."""

    share: float
    margin: int = MARGIN

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError(f"a budget share is above 0 and at most 1, got {self.share!r}")

    def allowance(self, limits: RateLimits) -> int:
        """The detail calls that fit now; 0 while Strava has reported no limit (nothing listed yet)."""
        spare = [
            limit - usage - self.margin
            for limit, usage in ((limits.limit_15, limits.usage_15), (limits.limit_day, limits.usage_day))
            if limit is not None
        ]
        if not spare:
            return 0
        return max(0, math.floor(self.share * min(spare)))
