"""Which document owns a path: picks the error envelope and rate-limit policy for a request.

Core knows only the names; the composition root (`pentad.app`) registers each enabled surface's
prefixes. The longest matching prefix wins, so `/api/ws/build` (spec 004) beats `/api/ws` (spec 000).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Names double as envelope styles: see pentad.core.envelopes
SURFACE_NAMES = ("vsm", "assistant", "crm", "gateway", "builds")


@dataclass
class SurfaceMap:
    default: str = "assistant"
    _prefixes: list[tuple[str, str]] = field(default_factory=list)

    def register(self, surface: str, *prefixes: str) -> None:
        if surface not in SURFACE_NAMES:
            raise ValueError(f"unknown surface {surface!r}")
        for prefix in prefixes:
            self._prefixes.append((prefix.rstrip("/") or "/", surface))
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def surface_for(self, path: str) -> str:
        for prefix, surface in self._prefixes:
            if path == prefix or path.startswith(prefix + "/") or prefix == "/":
                return surface
        return self.default
