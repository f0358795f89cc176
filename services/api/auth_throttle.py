"""Throttling of failed authentication by client address (OWASP API2/API4).

The failures are counted in Redis, in a fixed one-minute window per address, so every API
process (`PULS_API_WORKERS`, several hosts) draws on one allowance instead of each granting its
own. The process that sees an address go over the limit remembers it until the window ends and
answers that address 429 before looking at its key at all: neither the database nor Redis is
asked again, which is the point of throttling a flood. Like the per-key limit, counting fails
open when Redis is down (a key lookup is cheap, and feeds must not stop)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from arq.connections import ArqRedis

from services.core.auth.errors import TooManyFailedAuthentications

# Blocked addresses kept at most; expired ones are dropped first, so only a flood from more
# addresses than this within one minute makes a process forget one early (it then counts again).
_MAX_BLOCKED = 100_000


async def count_this_minute(redis: ArqRedis, key: str, amount: int = 1) -> tuple[int, int] | None:
    """Adds `amount` (one request, or the weight of an expensive one) to `key`'s counter of the
    current fixed one-minute window and returns the count with the window's number, or None
    when Redis cannot be reached (callers fail open). The per-key rate limits count with it
    too."""
    window = int(time.time() // 60)
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.incrby(f"{key}:{window}", amount)
        pipe.expire(f"{key}:{window}", 61)
        count, _ = await pipe.execute()
    except Exception:
        return None
    return int(count), window


@dataclass
class AuthFailureThrottle:
    limit: int
    redis_prefix: str
    blocked: dict[str, float] = field(default_factory=dict)  # address → end of its window

    def check(self, address: str) -> None:
        """429 when this process has seen the address go over the limit in this window."""
        until = self.blocked.get(address)
        if until is None:
            return
        left = until - time.time()
        if left <= 0:
            del self.blocked[address]
            return
        raise self._refusal(left)

    async def failed(self, redis: ArqRedis | None, address: str) -> None:
        """Counts one failed authentication; 429 (instead of the 401) once the address has
        failed more than `limit` times in this window."""
        if redis is None:
            return
        counted = await count_this_minute(redis, f"{self.redis_prefix}:auth-failures:{address}")
        if counted is None or counted[0] <= self.limit:
            return
        now, until = time.time(), (counted[1] + 1) * 60.0
        self._remember(address, until, now)
        raise self._refusal(until - now)

    def _remember(self, address: str, until: float, now: float) -> None:
        if len(self.blocked) >= _MAX_BLOCKED:
            for stale in [a for a, end in self.blocked.items() if end <= now]:
                del self.blocked[stale]
            if len(self.blocked) >= _MAX_BLOCKED:
                self.blocked.pop(next(iter(self.blocked)))
        self.blocked[address] = until

    def _refusal(self, seconds_left: float) -> TooManyFailedAuthentications:
        return TooManyFailedAuthentications(
            f"More than {self.limit} requests without a valid API key from this address "
            "in a minute; wait before trying again",
            headers={"Retry-After": str(max(math.ceil(seconds_left), 1))},
        )
