"""Stored embeddings and cosine-similarity search over them, per namespace (e.g. one CRM workspace).

`sync` brings a namespace up to date with the caller's texts: only new or changed texts are embedded, and
items the caller no longer has are removed. Vectors are kept unit-length, so cosine similarity is a dot
product; a namespace is searched in memory with NumPy, which is fast to tens of thousands of items.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, select

from pentad.core.db import Database
from pentad.engines.llm.generation import Embeddings
from pentad.engines.llm.models import StoredEmbedding

Embed = Callable[[Sequence[str]], Awaitable[Embeddings]]
BATCH = 32


@dataclass(frozen=True, slots=True)
class Hit:
    key: str
    text: str
    score: float


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _unit(vector: Sequence[float]) -> np.ndarray:
    array = np.asarray(vector, dtype="<f4")
    norm = float(np.linalg.norm(array))
    return array / norm if norm > 0 else array


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    return float(np.dot(_unit(a), _unit(b)))


class VectorIndex:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def sync(self, namespace: str, model: str, items: Mapping[str, str], embed: Embed) -> int:
        """Embed what is new or changed; returns how many texts were embedded."""
        async with self._db.transaction() as session:
            rows = (
                await session.execute(
                    select(StoredEmbedding.item_key, StoredEmbedding.text_sha256).where(
                        StoredEmbedding.namespace == namespace, StoredEmbedding.model == model
                    )
                )
            ).all()
        known = dict(rows)
        stale = [key for key in known if key not in items]
        changed = [key for key, text in items.items() if known.get(key) != _digest(text)]
        vectors: dict[str, np.ndarray] = {}
        for start in range(0, len(changed), BATCH):
            batch = changed[start : start + BATCH]
            result = await embed([items[key] for key in batch])
            vectors.update({key: _unit(vector) for key, vector in zip(batch, result.vectors, strict=True)})
        if not stale and not vectors:
            return 0
        async with self._db.transaction() as session:
            touched = [*stale, *vectors]
            for start in range(0, len(touched), 500):
                await session.execute(
                    delete(StoredEmbedding).where(
                        StoredEmbedding.namespace == namespace,
                        StoredEmbedding.model == model,
                        StoredEmbedding.item_key.in_(touched[start : start + 500]),
                    )
                )
            for key, vector in vectors.items():
                session.add(
                    StoredEmbedding(
                        namespace=namespace,
                        item_key=key,
                        model=model,
                        text=items[key],
                        text_sha256=_digest(items[key]),
                        dimensions=int(vector.shape[0]),
                        vector=vector.astype("<f4").tobytes(),
                    )
                )
        return len(vectors)

    async def search(self, namespace: str, model: str, query: Sequence[float], limit: int = 5) -> list[Hit]:
        async with self._db.transaction() as session:
            rows = (
                await session.execute(
                    select(StoredEmbedding.item_key, StoredEmbedding.text, StoredEmbedding.vector).where(
                        StoredEmbedding.namespace == namespace, StoredEmbedding.model == model
                    )
                )
            ).all()
        if not rows:
            return []
        probe = _unit(query)
        matrix = np.stack([np.frombuffer(vector, dtype="<f4") for _, _, vector in rows])
        if matrix.shape[1] != probe.shape[0]:
            return []
        scores = matrix @ probe
        order = np.argsort(-scores)[:limit]
        return [Hit(rows[i][0], rows[i][1], round(float(scores[i]), 4)) for i in order]
