"""Node wiring (nacosfast.server.main): closing the store on shutdown never blocks the event loop."""

from __future__ import annotations

import threading

import trio

from nacosfast.server.main import close_store

# --- closing the store on shutdown -----------------------------------------------------------------


class HungStore:
    """A store whose ``close`` blocks its thread until released (a disk that stopped answering)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.closed_in: int | None = None

    def close(self) -> None:
        self.closed_in = threading.get_ident()
        self.release.wait(timeout=30)


async def test_close_store_runs_off_the_event_loop_and_gives_up_after_its_bound() -> None:
    store = HungStore()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await trio.sleep(0.01)
            ticks += 1

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ticker)
                start = trio.current_time()
                assert await close_store(store, timeout_ms=300) is False
                elapsed = trio.current_time() - start
                nursery.cancel_scope.cancel()
        assert 0.3 <= elapsed < 5
        assert ticks >= 5  # the loop kept running while the disk hung
        assert store.closed_in not in (None, threading.get_ident())
    finally:
        store.release.set()


async def test_close_store_is_not_cut_short_by_the_shutdown_that_calls_it() -> None:
    store = HungStore()
    store.release.set()  # a healthy disk
    with trio.CancelScope() as scope:
        scope.cancel()
        assert await close_store(store) is True  # shielded: the cancelled caller still closes
    assert store.closed_in not in (None, threading.get_ident())
