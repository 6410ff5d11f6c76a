"""Roles and what they may do.

Permission names are the documents' own: spec 000 (`vsm.read`, `goldrush.admin`...) and spec 004
(`build:create`...). `resource_access` is spec 000's per-VSM-system view of the same roles.
"""

from __future__ import annotations

from typing import Final

ROLES: Final = ("admin", "operator", "user", "viewer")

ALL_PERMISSIONS: Final = (
    "vsm.read",
    "vsm.write",
    "agents.manage",
    "llm.access",
    "goldrush.read",
    "goldrush.write",
    "goldrush.admin",
    "webhooks.manage",
    "vms.read",
    "vms.write",
    "logs.read",
    "crm.access",
    "assistant.access",
    "build:create",
    "build:read",
    "build:cancel",
    "analysis:create",
    "analysis:read",
    "users.manage",
)

ROLE_PERMISSIONS: Final[dict[str, frozenset[str]]] = {
    "admin": frozenset(ALL_PERMISSIONS),
    "operator": frozenset(
        {
            "vsm.read",
            "vsm.write",
            "agents.manage",
            "llm.access",
            "goldrush.read",
            "goldrush.write",
            "goldrush.admin",
            "webhooks.manage",
            "vms.read",
            "vms.write",
            "logs.read",
            "crm.access",
            "assistant.access",
            "build:create",
            "build:read",
            "build:cancel",
            "analysis:create",
            "analysis:read",
        }
    ),
    "user": frozenset(
        {
            "vsm.read",
            "llm.access",
            "goldrush.read",
            "goldrush.write",
            "vms.read",
            "vms.write",
            "logs.read",
            "crm.access",
            "assistant.access",
            "build:create",
            "build:read",
            "build:cancel",
            "analysis:create",
            "analysis:read",
        }
    ),
    "viewer": frozenset(
        {"vsm.read", "goldrush.read", "vms.read", "logs.read", "build:read", "analysis:read"}
    ),
}

# S3 (audit) and S4 (intelligence) observe; only the system itself writes to them. S5 decides policy.
ROLE_RESOURCE_ACCESS: Final[dict[str, dict[str, tuple[str, ...]]]] = {
    "admin": {
        "system_1": ("read", "write"),
        "system_2": ("read", "write"),
        "system_3": ("read",),
        "system_4": ("read",),
        "system_5": ("read", "write", "decide"),
    },
    "operator": {
        "system_1": ("read", "write"),
        "system_2": ("read", "write"),
        "system_3": ("read",),
        "system_4": ("read",),
        "system_5": ("read",),
    },
    "user": {f"system_{n}": ("read",) for n in range(1, 6)},
    "viewer": {f"system_{n}": ("read",) for n in range(1, 6)},
}

_ACTION_ORDER: Final = ("read", "write", "decide")


def permissions_for(roles: list[str]) -> list[str]:
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_PERMISSIONS.get(role, frozenset())
    return [name for name in ALL_PERMISSIONS if name in granted]


def resource_access_for(roles: list[str]) -> dict[str, list[str]]:
    access: dict[str, set[str]] = {}
    for role in roles:
        for system, actions in ROLE_RESOURCE_ACCESS.get(role, {}).items():
            access.setdefault(system, set()).update(actions)
    return {
        system: [action for action in _ACTION_ORDER if action in actions]
        for system, actions in sorted(access.items())
    }


def primary_role(roles: list[str]) -> str:
    """The strongest role, for documents that show a single `role` claim (spec 004)."""
    for role in ROLES:
        if role in roles:
            return role
    return "viewer"
