"""The credential cache: hits within the TTL, misses after, evictions by token and user, bounded size."""

from __future__ import annotations

import time
import uuid

from pentad.core.identity.cache import PrincipalCache
from pentad.core.identity.principal import Principal


def _principal(token_id: str, expires_at: int | None = None) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="u",
        email="u@example.com",
        name="",
        roles=("user",),
        permissions=frozenset({"vsm.read"}),
        auth_method="jwt",
        token_id=token_id,
        token_expires_at=expires_at,
    )


def test_hit_then_expiry() -> None:
    cache = PrincipalCache(ttl_seconds=0.05)
    principal = _principal("a")
    cache.put("token-a", principal)
    assert cache.get("token-a") is principal
    time.sleep(0.06)
    assert cache.get("token-a") is None


def test_expired_token_is_never_served() -> None:
    cache = PrincipalCache(ttl_seconds=60)
    cache.put("token-b", _principal("b", expires_at=int(time.time()) - 1))
    assert cache.get("token-b") is None


def test_evict_by_token_and_user() -> None:
    cache = PrincipalCache(ttl_seconds=60)
    first, second = _principal("t1"), _principal("t2")
    cache.put("one", first)
    cache.put("two", second)
    cache.evict_where(token_id="t1")
    assert cache.get("one") is None
    assert cache.get("two") is second
    cache.evict_where(user_id=second.user_id)
    assert cache.get("two") is None


def test_disabled_and_bounded() -> None:
    disabled = PrincipalCache(ttl_seconds=0)
    disabled.put("x", _principal("x"))
    assert disabled.get("x") is None
    bounded = PrincipalCache(ttl_seconds=60, max_entries=2)
    for name in ("a", "b", "c"):
        bounded.put(name, _principal(name))
    assert bounded.get("a") is None
    assert bounded.get("c") is not None
