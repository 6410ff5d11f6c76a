"""API keys: `sk-` + random; only the SHA-256 is stored (looked up on every request, so no slow hash)."""

from __future__ import annotations

import hashlib
import secrets

API_KEY_PREFIX = "sk-"


def generate_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_api_key(credential: str) -> bool:
    return credential.startswith(API_KEY_PREFIX)
