"""benchmarks/load.py's window: however short the gap (--gap 0 0), a candidate has at most `size` saves in
flight, and a submit waits for all of them."""

from __future__ import annotations

import asyncio

from benchmarks.load import SaveWindow


def test_at_most_size_saves_are_in_flight_and_drain_waits_for_all() -> None:
    async def run() -> tuple[int, int, int]:
        window = SaveWindow(3)
        inside = most = done = 0

        async def save() -> None:
            nonlocal inside, most, done
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.001)
            inside -= 1
            done += 1

        for _ in range(50):  # back to back: no gap at all
            await window.send(save())
        await window.drain()
        return most, done, len(window.tasks)

    most, done, left = asyncio.run(run())
    assert most == 3 and done == 50 and left == 0
