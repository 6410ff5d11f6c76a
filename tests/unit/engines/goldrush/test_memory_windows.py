"""Sliding windows in memory: expiry, every aggregate function, fire-and-restart, sequences."""

from __future__ import annotations

import pytest

from pentad.engines.goldrush.windows import MemoryWindows


async def test_count_fires_once_past_the_threshold_then_restarts() -> None:
    windows = MemoryWindows()
    fired = [(await windows.observe("p:", float(t), 300, 1.0, "count", ">", 5)).fired for t in range(12)]
    # the 6th event crosses `> 5`; the window then starts again, so the 12th fires next
    assert fired == [False] * 5 + [True] + [False] * 5 + [True]


async def test_entries_slide_out_of_the_window() -> None:
    windows = MemoryWindows()
    for t in (0.0, 10.0, 20.0):
        await windows.observe("p:", t, 30, 1.0, "count", ">", 100)
    observation = await windows.observe("p:", 35.0, 30, 1.0, "count", ">", 100)
    assert observation.value == 3  # the entry at 0 left (35 - 30 = 5); 10, 20 and 35 remain
    observation = await windows.observe("p:", 50.0, 30, 1.0, "count", ">", 100)
    assert observation.value == 2  # the cutoff is 20: an entry exactly at it is out


@pytest.mark.parametrize(
    ("function", "expected"), [("sum", 12.0), ("avg", 4.0), ("min", 1.0), ("max", 8.0), ("count", 3.0)]
)
async def test_functions(function: str, expected: float) -> None:
    windows = MemoryWindows()
    observation = None
    for t, value in enumerate((3.0, 1.0, 8.0)):
        observation = await windows.observe("k", float(t), 60, value, function, ">", 1e9)
    assert observation is not None
    assert observation.value == expected


async def test_groups_are_separate_windows() -> None:
    windows = MemoryWindows()
    for _ in range(3):
        await windows.observe('p:"alice"', 1.0, 60, 1.0, "count", ">=", 4)
    assert not (await windows.observe('p:"bob"', 1.0, 60, 1.0, "count", ">=", 4)).fired
    assert (await windows.observe('p:"alice"', 1.0, 60, 1.0, "count", ">=", 4)).fired


async def test_sequence_consumes_the_oldest_first_step_inside_the_window() -> None:
    windows = MemoryWindows()
    assert not await windows.consume("s:", 0.0, 60)
    await windows.remember("s:", 0.0, 60)
    await windows.remember("s:", 30.0, 60)
    assert await windows.consume("s:", 70.0, 60)  # the step at 0 expired; the one at 30 pairs
    assert not await windows.consume("s:", 71.0, 60)


async def test_forget_drops_a_patterns_state() -> None:
    windows = MemoryWindows()
    await windows.observe("pat_a:", 0.0, 60, 1.0, "count", ">", 10)
    await windows.remember("pat_a:x", 0.0, 60)
    await windows.observe("pat_b:", 0.0, 60, 1.0, "count", ">", 10)
    await windows.forget("pat_a:")
    assert windows.open_windows == 1
