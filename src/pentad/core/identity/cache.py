"""A short-lived cache of resolved credentials, so an authenticated request costs no database round
trip when the same token or key was seen a moment ago.

Revocations made on this node evict at once; made elsewhere (another node, the CLI) they take effect
within the TTL (`security.auth_cache_seconds`, default 2 s, 0 disables the cache).
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict

from pentad.core.identity.principal import Principal


class PrincipalCache:
    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return round(self.hits / total, 4) if total else 0.0

    @staticmethod
    def _key(credential: str) -> str:
        return hashlib.sha256(credential.encode()).hexdigest()

    def get(self, credential: str) -> Principal | None:
        if self._ttl <= 0:
            return None
        key = self._key(credential)
        entry = self._entries.get(key)
        if entry is None:
            self.misses += 1
            return None
        expires, principal = entry
        token_expired = principal.token_expires_at is not None and principal.token_expires_at <= time.time()
        if expires < time.monotonic() or token_expired:
            del self._entries[key]
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return principal

    def put(self, credential: str, principal: Principal) -> None:
        if self._ttl <= 0:
            return
        self._entries[self._key(credential)] = (time.monotonic() + self._ttl, principal)
        self._entries.move_to_end(self._key(credential))
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def evict_where(self, *, token_id: str | None = None, user_id: object | None = None) -> None:
        stale = [
            key
            for key, (_expires, principal) in self._entries.items()
            if (token_id is not None and principal.token_id == token_id)
            or (user_id is not None and principal.user_id == user_id)
        ]
        for key in stale:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()
