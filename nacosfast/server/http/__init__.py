"""The HTTP/1.1 server: a thin Trio shell around ``nacosfast.wire.http.HttpConnection``.

By what each part owns:

- ``listener`` — ``serve_http``: binds the listening socket and runs one ``Hub`` on it;
- ``hub`` — the epoll hub: one task and one epoll set for every connection of a listener (accept,
  read everything ready, answer all pipelined requests with one send; timeouts, shedding, the
  request memory budget, the ``Date`` line);
- ``responder`` — what every driver shares: calling the handler, the one answering loop
  (``answer_ready``), the one durable wait, and the bound on in-flight work during shutdown;
- ``stream`` — ``serve_stream``: the same protocol over a ``trio.abc.Stream`` (tests, memory streams);
- the limits are ``nacosfast.wire.http_limits.HttpLimits``, one frozen value the sans-I/O connection
  takes as it is.

The application is a synchronous ``handler(request) -> Response``. A response with ``durable_seq > 0``
is sent only after ``await wait_durable(seq)`` returns (503 if it raises). A response with a
``deferred`` answer (a write forwarded to its owner in a cluster) parks its connection until the
answer resolves; the resolver's callback answers it, with no task per request. A handler that raises
answers 500 and the server carries on.
"""

from nacosfast.server.http.listener import serve_http
from nacosfast.server.http.responder import Handler, WaitDurable
from nacosfast.server.http.stream import serve_stream
from nacosfast.wire.http_limits import HttpLimits

__all__ = ["Handler", "HttpLimits", "WaitDurable", "serve_http", "serve_stream"]
