"""Cluster mode, sans-I/O: membership and ownership, peer authentication, the forwarding codec.

The Trio shell that moves the bytes lives in ``nacosfast.server`` (``membership``, ``peers``,
``forwarder``).
"""
