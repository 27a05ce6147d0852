"""The server-wide request memory budget (nacosfast.wire.budget), driven like the server drives it."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nacosfast.wire.budget import RequestBudget, Share
from nacosfast.wire.http import HttpConnection
from nacosfast.wire.http_limits import HttpLimits

ALLOWANCE = 256
MAX_HEADER = 512
MAX_BODY = 2048
MAX_READ = 1024


def connection() -> HttpConnection:
    return HttpConnection(limits=HttpLimits(max_header_bytes=MAX_HEADER, max_body_bytes=MAX_BODY))


MAX_NEED = connection().max_need
POOL = 3000
"""A pool for two declared bodies of MAX_BODY, not three (enough for the tests without long heads)."""


def post(length: int) -> bytes:
    return b"POST /p HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (length, b"b" * length)


class Resumed:
    """A resume callback that records what it was called with."""

    def __init__(self) -> None:
        self.shares: list[Share] = []

    def __call__(self, share: Share) -> None:
        assert not share.waiting
        assert share.charge > 0
        self.shares.append(share)


def feed(budget: RequestBudget, share: Share, conn: HttpConnection, data: bytes, resume: Resumed) -> bool:
    """Read like the server: never more than read_size at once; settle after each read."""
    while data:
        size = budget.read_size(share, conn)
        assert size >= 1
        piece, data = data[:size], data[size:]
        conn.feed(piece)
        assert conn.error is None
        if not budget.settle(share, conn, resume):
            return False
    return True


def test_requests_within_the_allowance_take_nothing_from_the_pool() -> None:
    budget = RequestBudget(MAX_NEED, ALLOWANCE, MAX_READ)
    share, conn = Share(), connection()
    head = b"GET /a HTTP/1.1\r\nHost: h\r\n"
    assert budget.read_size(share, conn) == ALLOWANCE
    assert feed(budget, share, conn, head, Resumed())  # a partial head, within the allowance
    assert (share.charge, budget.used) == (0, 0)
    assert budget.read_size(share, conn) == ALLOWANCE - len(head)
    assert feed(budget, share, conn, b"\r\n" + post(100), Resumed())
    assert (share.charge, budget.used, conn.buffered) == (0, 0, 0)


def test_a_large_declared_body_reserves_its_size_beyond_the_allowance_and_reads_to_its_end() -> None:
    budget = RequestBudget(MAX_NEED, ALLOWANCE, MAX_READ)
    share, conn = Share(), connection()
    request = post(2000)
    assert feed(budget, share, conn, request[:200], Resumed())
    reserved = conn.need - ALLOWANCE
    assert share.charge == budget.used == reserved
    assert conn.need <= len(request)  # the head as parsed, the body as declared
    assert budget.read_size(share, conn) == MAX_READ  # the rest is 1800 bytes
    conn.feed(request[200:1224])
    assert budget.settle(share, conn, Resumed())
    assert budget.read_size(share, conn) == conn.remaining == len(request) - 1224  # not one byte more
    assert feed(budget, share, conn, request[1224:], Resumed())
    assert (share.charge, budget.used, budget.peak) == (0, 0, reserved)


def test_when_the_pool_is_short_large_requests_wait_unread_and_resume_in_arrival_order() -> None:
    budget = RequestBudget(POOL, ALLOWANCE, MAX_READ)
    resumed = Resumed()
    shares = [Share() for _ in range(3)]
    conns = [connection() for _ in range(3)]
    first = post(2000)
    assert feed(budget, shares[0], conns[0], first[:300], resumed)
    held = budget.used
    assert held > POOL - held
    for share, conn in zip(shares[1:], conns[1:], strict=True):
        assert not feed(budget, share, conn, post(MAX_BODY)[:100], resumed)
        assert share.waiting
        assert share.charge == 0  # waiting: nothing of the pool
        assert conn.buffered <= ALLOWANCE
    assert (budget.used, budget.waiting, budget.waits) == (held, 2, 2)
    small = Share()  # small requests still go through
    assert feed(budget, small, connection(), post(50), resumed)
    assert feed(budget, shares[0], conns[0], first[300:], resumed)  # done: the first waiter goes on
    assert resumed.shares == [shares[1]]
    assert budget.waiting == 1
    budget.release(shares[1])  # it closes: the next one goes on
    assert resumed.shares == [shares[1], shares[2]]
    assert budget.used == shares[2].charge == conns[2].need - ALLOWANCE
    budget.release(shares[2])
    assert (budget.used, budget.waiting) == (0, 0)


def test_a_newcomer_does_not_overtake_a_waiting_request() -> None:
    budget = RequestBudget(POOL, ALLOWANCE, MAX_READ)
    resumed = Resumed()
    big, big_conn = Share(), connection()
    assert feed(budget, big, big_conn, post(MAX_BODY)[:100], resumed)
    waiting = Share()
    assert not feed(budget, waiting, connection(), post(MAX_BODY)[:100], resumed)
    later = Share()  # would fit in what is left, but waits its turn
    assert POOL - budget.used > 400
    assert not feed(budget, later, connection(), post(400 + ALLOWANCE)[:100], resumed)
    budget.release(big)
    assert resumed.shares == [waiting, later]


def test_a_long_head_reserves_the_worst_case_then_shrinks_to_its_body() -> None:
    budget = RequestBudget(MAX_NEED, ALLOWANCE, MAX_READ)
    share, conn = Share(), connection()
    head = b"POST /p HTTP/1.1\r\nX-Long: " + b"v" * 400 + b"\r\nContent-Length: 10\r\n\r\n"
    assert feed(budget, share, conn, head[:ALLOWANCE], Resumed())
    assert conn.need == -1
    assert share.charge == MAX_NEED  # the head goes past the allowance: its worst case
    assert budget.read_size(share, conn) == ALLOWANCE
    assert feed(budget, share, conn, head[ALLOWANCE:] + b"12345", Resumed())
    assert share.charge == conn.need - ALLOWANCE < MAX_NEED
    assert feed(budget, share, conn, b"67890", Resumed())
    assert budget.used == 0


def test_a_chunked_body_reserves_up_to_the_body_limit() -> None:
    budget = RequestBudget(MAX_NEED, ALLOWANCE, MAX_READ)
    share, conn = Share(), connection()
    assert feed(budget, share, conn, b"PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", Resumed())
    # Its size is unknown: as soon as the head is complete it reserves the most it may hold, and
    # its allowance is kept for what of the next request may come along in the same read.
    assert share.charge == budget.used == conn.need == conn.buffered + MAX_BODY
    assert feed(budget, share, conn, b"a\r\n0123456789\r\n" * 20, Resumed())
    assert share.charge == conn.need
    assert budget.read_size(share, conn) == ALLOWANCE
    assert feed(budget, share, conn, b"0\r\n\r\n", Resumed())
    assert budget.used == 0


def test_releasing_a_waiting_or_reserved_share_gives_everything_back() -> None:
    budget = RequestBudget(POOL, ALLOWANCE, MAX_READ)
    reserved, waiting = Share(), Share()
    assert feed(budget, reserved, connection(), post(MAX_BODY)[:100], Resumed())
    assert not feed(budget, waiting, connection(), post(MAX_BODY)[:100], Resumed())
    budget.release(waiting)
    assert (budget.waiting, waiting.waiting) == (0, False)
    budget.release(reserved)
    budget.release(reserved)  # twice is harmless
    assert (budget.used, reserved.charge) == (0, 0)


def test_a_pool_smaller_than_one_request_or_a_bad_allowance_is_refused() -> None:
    with pytest.raises(ValueError, match="more than the budget"):
        RequestBudget(MAX_NEED - 1, ALLOWANCE, MAX_READ).check(connection())
    RequestBudget(MAX_NEED, ALLOWANCE, MAX_READ).check(connection())
    with pytest.raises(ValueError, match="allowance"):
        RequestBudget(MAX_NEED, 0, MAX_READ)
    with pytest.raises(ValueError, match="allowance"):
        RequestBudget(MAX_NEED, MAX_READ + 1, MAX_READ)


# --- random traffic ---------------------------------------------------------------------------------------

_REQUEST = st.one_of(
    st.just(b"GET /small?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"),
    st.integers(0, MAX_BODY).map(post),
    st.lists(st.integers(1, 600), max_size=3).map(  # at most MAX_BODY in all
        lambda sizes: (
            b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (size, b"c" * size) for size in sizes)
            + b"0\r\n\r\n"
        )
    ),
    st.integers(0, 400).map(lambda n: b"GET /h HTTP/1.1\r\nX-Long: %s\r\n\r\n" % (b"v" * n)),
)


class Client:
    """One simulated connection: the bytes its client sends, and what the server did with them."""

    def __init__(self, requests: list[bytes]) -> None:
        self.share = Share()
        self.conn = connection()
        self.data = b"".join(requests)
        self.sent = 0
        self.expected = len(requests)
        self.answered = 0
        self.busy = False
        self.busy_holds = 0
        self.open = True

    @property
    def readable(self) -> bool:
        return self.open and not self.busy and not self.share.waiting and self.sent < len(self.data)


class Traffic:
    """Plays the server's part: read at most read_size, feed, answer (maybe later), settle."""

    def __init__(self, budget: RequestBudget, clients: list[Client]) -> None:
        self.budget = budget
        self.clients = clients
        self.resumed: list[Share] = []

    def resume(self, share: Share) -> None:
        assert not share.waiting
        assert share.charge > 0
        self.resumed.append(share)

    def read(self, client: Client, most: int, hold: bool) -> None:
        budget, share, conn = self.budget, client.share, client.conn
        size = budget.read_size(share, conn)
        assert size >= 1
        piece = client.data[client.sent : client.sent + min(size, most)]
        client.sent += len(piece)
        before = conn.buffered
        requests = conn.feed(piece)
        assert conn.error is None
        client.answered += len(requests)
        # Everything this read may have left in memory (a partial request, and the requests it
        # completed while they wait for their answers) is covered by the allowance and the reservation.
        assert before + len(piece) <= budget.allowance + share.charge
        if requests and hold:  # a task owns the answers: no settling until it gives the client back
            client.busy = True
            client.busy_holds += 1
        else:
            budget.settle(share, conn, self.resume)

    def give_back(self, client: Client) -> None:
        client.busy = False
        self.budget.settle(client.share, client.conn, self.resume)

    def close(self, client: Client) -> None:
        client.open = False
        self.budget.release(client.share)

    def check(self) -> None:
        budget = self.budget
        assert 0 <= budget.used <= budget.limit
        assert budget.peak <= budget.limit
        assert budget.used == sum(c.share.charge for c in self.clients)
        assert budget.waiting == sum(c.share.waiting for c in self.clients)
        for client in self.clients:
            share = client.share
            if not client.open:
                assert (share.charge, share.waiting) == (0, False)
            elif share.waiting:
                assert share.charge == 0  # waiting connections hold nothing of the pool...
                assert client.conn.buffered <= budget.allowance  # ...and no more than their allowance
            elif not client.busy:
                assert client.conn.buffered <= budget.allowance + share.charge


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(_REQUEST, min_size=1, max_size=4), min_size=1, max_size=8),
    st.integers(0, 3 * MAX_NEED),
    st.data(),
)
def test_random_traffic_never_exceeds_the_budget_never_deadlocks_and_gives_everything_back(
    connections: list[list[bytes]], spare: int, data: st.DataObject
) -> None:
    budget = RequestBudget(MAX_NEED + spare, ALLOWANCE, MAX_READ)
    clients = [Client(requests) for requests in connections]
    traffic = Traffic(budget, clients)
    # Random reads (short ones too: recv may return less), answers held by tasks, and closes.
    for _ in range(data.draw(st.integers(0, 120), label="steps")):
        candidates = [c for c in clients if c.readable or (c.open and c.busy)]
        if not candidates:
            break
        client = data.draw(st.sampled_from(candidates), label="client")
        action = data.draw(st.sampled_from(["read", "read", "read", "close"]), label="action")
        if action == "close" and data.draw(st.booleans(), label="really"):
            traffic.close(client)
        elif client.busy:
            traffic.give_back(client)
        else:
            traffic.read(client, data.draw(st.integers(1, MAX_READ)), data.draw(st.booleans()))
        traffic.check()
    # Then the clients send everything and the server answers as fast as it can: every request of
    # every open connection completes (a waiting request is always resumed: no deadlock).
    for _ in range(sum(len(c.data) for c in clients) + 2 * len(clients) + 10):
        busy = [c for c in clients if c.open and c.busy]
        readable = [c for c in clients if c.readable]
        if not busy and not readable:
            break
        for client in busy:
            traffic.give_back(client)
        for client in readable:
            traffic.read(client, MAX_READ, hold=False)
        traffic.check()
    for client in clients:
        if client.open:
            assert not client.share.waiting
            assert (client.sent, client.answered) == (len(client.data), client.expected)
            assert client.share.charge == 0
    assert budget.used == 0
    for client in clients:
        traffic.close(client)
    traffic.check()
    assert (budget.used, budget.waiting) == (0, 0)
