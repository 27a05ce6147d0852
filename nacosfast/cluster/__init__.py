"""Cluster mode, sans-I/O: membership and ownership, peer authentication, the forwarding codec, and
Distro replication of ephemeral instances (``view``, ``datum``, ``distro``).

The Trio shell that moves the bytes lives in ``nacosfast.server`` (``membership``, ``peers``,
``forwarder``, ``distro_runner``).
"""
