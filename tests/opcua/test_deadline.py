"""Deadlines around asyncua calls: a reply racing the deadline must still be a timeout."""

from __future__ import annotations

import asyncio

import pytest

from plateline.drivers.opcua import deadline


class CancelledWithResult(asyncio.CancelledError):
    """What asyncua's wait_for2 raises when a reply and the cancellation cross."""


async def answers_cancel_with_a_subclass() -> None:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        raise CancelledWithResult() from None


async def test_subclassed_cancellation_at_the_deadline_is_a_timeout() -> None:
    with pytest.raises(TimeoutError):
        async with deadline(0.02):
            await answers_cancel_with_a_subclass()
    async with asyncio.timeout(1):  # plain asyncio.timeout lets it through as a cancellation
        with pytest.raises(CancelledWithResult):
            async with asyncio.timeout(0.02):
                await answers_cancel_with_a_subclass()


async def test_cancellation_from_outside_still_cancels() -> None:
    async def guarded() -> None:
        async with deadline(10):
            await answers_cancel_with_a_subclass()

    task = asyncio.create_task(guarded())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()
