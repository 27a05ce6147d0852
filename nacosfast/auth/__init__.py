"""Authentication and authorization compatible with Nacos 1.x, sans-I/O (``docs/security.md``).

Tokens (``jwt``), password hashing (``passwords``), users, roles and permissions (``store``), the
per-route rules and resource matching (``policy``), the gate every request passes (``gate``) and the
``/v1/auth/*`` endpoints (``endpoints``). The Trio shell (secret files, the bcrypt worker threads)
is ``nacosfast.server.auth``.
"""
