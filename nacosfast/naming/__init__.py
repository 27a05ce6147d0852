"""The Nacos naming application, sans-I/O: requests and ``now_ms`` in, responses and effects out."""
