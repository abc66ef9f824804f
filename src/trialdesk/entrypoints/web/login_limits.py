"""Login anti-automation (ASVS 2.2.1): at most so many login attempts a minute per client address and per username.

A sliding window of attempt times per key, kept in this process's memory (``Settings.login_attempts_per_address``,
``Settings.login_attempts_per_username``): several web workers each allow the configured number, and a restart
forgets. An attempt is counted before its argon2 work starts (so parallel attempts cannot slip through together)
and forgiven when it succeeds: a user who logs in is never limited by their own successes. The account lockout
(``services/accounts.py``) still applies on top.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

#: The window the limits count over (seconds).
WINDOW_S = 60.0
#: Most keys remembered; the least recently used are forgotten first (bounds memory under a spray of addresses).
MAX_KEYS = 50_000


class LoginLimiter:
    """Thread-safe: login handlers run in FastAPI's thread pool."""

    def __init__(
        self,
        per_address: int,
        per_username: int,
        *,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_address, self.per_username, self.window_s, self.clock = per_address, per_username, window_s, clock
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _keys(address: str, username: str) -> tuple[str, str]:
        return "a:" + address, "u:" + username.strip().lower()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque()
            if len(self._times) > MAX_KEYS:
                self._times.popitem(last=False)
        self._times.move_to_end(key)
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def attempt(self, address: str, username: str) -> int | None:
        """Count one attempt; or, when a limit is reached, count nothing and return the seconds to wait."""
        now = self.clock()
        by_address, by_user = self._keys(address, username)
        with self._lock:
            waits = []
            for key, limit in ((by_address, self.per_address), (by_user, self.per_username)):
                times = self._recent(key, now)
                if len(times) >= limit:
                    waits.append(times[len(times) - limit] + self.window_s - now)
            if waits:
                return max(1, math.ceil(max(waits)))
            self._times[by_address].append(now)
            self._times[by_user].append(now)
            return None

    def succeeded(self, address: str, username: str) -> None:
        """Forgive the attempt that just succeeded."""
        with self._lock:
            for key in self._keys(address, username):
                times = self._times.get(key)
                if times:
                    times.pop()
