"""A server-wide budget on the request bytes its connections hold in memory (sans-I/O).

Each connection may hold ``allowance`` bytes of request for free: enough for every normal Nacos request,
so those never wait. A request that needs more takes a *reservation* from a shared pool of ``limit``
bytes for its whole need (head plus declared body; the body limit for a chunked body or a head still
arriving) before the server reads past its allowance. A request that cannot get one waits, unread, in a
first-come queue (TCP backpressure slows its client down) and is resumed as earlier ones finish.

Why reserve the whole need rather than count bytes as they arrive: if many large requests each held
part of their body while waiting for more, the pool could fill with halves of requests none of which
can finish (a deadlock only timeouts would break). Here a waiting connection holds nothing of the pool,
every byte of the pool belongs to a request that can finish, and the queue always drains.

The shell reads a connection with at most ``read_size`` bytes, feeds them to its ``HttpConnection``,
answers what completed, and then calls ``settle`` (not while a task still owns answers to send: the
reservation keeps covering them until it does). Invariants, checked by tests/test_wire_budget.py:

- ``used`` (the sum of reservations) never exceeds ``limit``;
- a connection never holds more than ``allowance`` plus its reservation, counting the requests it
  read and has not answered yet; a waiting connection holds at most ``allowance`` and no reservation;
- ``release`` (on every close) returns a connection's reservation, so ``used`` is 0 once all are closed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from nacosfast.wire.http import HttpConnection

__all__ = ["RequestBudget", "Share"]


class Share:
    """A connection's part of a ``RequestBudget``; the server's connection record subclasses it."""

    __slots__ = ("charge", "waiting")

    def __init__(self) -> None:
        self.charge = 0
        """Bytes of the pool reserved for this connection's current request."""
        self.waiting = False
        """In the queue: the connection must not be read until it is resumed."""


Resume = Callable[[Share], None]
"""Called when a waiting connection got its reservation: read it again."""


class RequestBudget:
    """The pool of ``limit`` bytes shared by the connections of one server; see the module docstring."""

    __slots__ = ("_admitting", "_queue", "allowance", "limit", "max_read", "peak", "used", "waits")

    def __init__(self, limit: int, allowance: int, max_read: int) -> None:
        if allowance < 1 or max_read < allowance or limit < 0:
            raise ValueError("need 1 <= allowance <= max_read and limit >= 0")
        self.limit: Final = limit
        self.allowance: Final = allowance
        """Bytes a connection holds without a reservation; also its largest read without one."""
        self.max_read: Final = max_read
        """Largest read of a connection whose reservation covers it."""
        self.used = 0
        """Sum of all reservations."""
        self.peak = 0
        """Highest ``used`` so far."""
        self.waits = 0
        """Requests that had to wait for a reservation, so far."""
        self._queue: dict[Share, tuple[int, Resume]] = {}
        self._admitting = False

    @property
    def waiting(self) -> int:
        """Connections waiting for a reservation now."""
        return len(self._queue)

    def check(self, conn: HttpConnection) -> None:
        """Raise ValueError if a request of ``conn`` could need more than the whole pool."""
        if conn.max_need > self.limit:
            raise ValueError(f"a request may hold {conn.max_need} bytes, more than the budget ({self.limit})")

    def read_size(self, share: Share, conn: HttpConnection) -> int:
        """How many bytes the next read of this connection may take (at least 1 unless it waits)."""
        if not share.charge:
            return self.allowance - conn.buffered  # what is read stays within the allowance
        remaining = conn.remaining
        if remaining > 0:  # the rest of a declared body: nothing of the next request comes with it
            return remaining if remaining < self.max_read else self.max_read
        # A chunked body or a long head: its need is covered, and whatever of the next request this
        # read brings along (at most this much) fits that request's allowance.
        return self.allowance

    def settle(self, share: Share, conn: HttpConnection, resume: Resume) -> bool:
        """Fit the reservation to what ``conn`` now holds; False if it must wait (do not read it).

        ``resume`` is called later, once, when the waiting connection got its reservation.
        """
        want = self._want(conn)
        charge = share.charge
        if want <= charge:
            if want < charge:
                share.charge = want
                self.used -= charge - want
                if self._queue:
                    self._admit()
            return True
        if not self._queue and self.used - charge + want <= self.limit:
            share.charge = want
            self.used += want - charge
            self.peak = max(self.peak, self.used)
            return True
        # Wait. What it holds is within its allowance (read_size saw to it), so it gives back any
        # reservation left from its previous request: waiting connections hold nothing of the pool.
        share.waiting = True
        self._queue[share] = (want, resume)
        self.waits += 1
        if charge:
            share.charge = 0
            self.used -= charge
            self._admit()
        return False

    def release(self, share: Share) -> None:
        """Forget a closed connection: leave the queue, give its reservation back."""
        if share.waiting:
            share.waiting = False
            del self._queue[share]
        charge = share.charge
        if charge:
            share.charge = 0
            self.used -= charge
            if self._queue:
                self._admit()

    def _want(self, conn: HttpConnection) -> int:
        """The reservation the unfinished request of ``conn`` needs (0: its allowance is enough)."""
        held = conn.buffered
        if not held:
            return 0
        allowance = self.allowance
        need = conn.need
        if need < 0:  # the head is still arriving: free up to the allowance, then its worst case
            return 0 if held < allowance else conn.max_need
        if conn.remaining >= 0:  # declared body: reads stop at its end, the allowance counts
            return need - allowance if need > allowance else 0
        # A chunked body: a read may bring part of the next request along, which takes the allowance.
        return need if need >= allowance else 0

    def _admit(self) -> None:
        """Give reservations to waiting connections, first come first served, while they fit."""
        if self._admitting:  # a resume callback released a connection: the loop below goes on
            return
        self._admitting = True
        try:
            queue = self._queue
            while queue:
                share = next(iter(queue))
                want, resume = queue[share]
                if self.used + want > self.limit:
                    return
                del queue[share]
                share.waiting = False
                share.charge = want
                self.used += want
                self.peak = max(self.peak, self.used)
                resume(share)
        finally:
            self._admitting = False
