"""The SDK's I/O shell on anyio: the async client, its HTTP transport and the blocking facade.

This sub-package (with ``nacosfast/client/cli.py``) is the only client code that imports anyio or
reads a clock; the modules one level up are sans-I/O.
"""

from nacosfast.client.aio.blocking import NamingClient
from nacosfast.client.aio.client import AsyncNamingClient, Listener

__all__ = ["AsyncNamingClient", "Listener", "NamingClient"]
