"""nacosfast: a Nacos 1.x naming-compatible service registry with a Cython core and Trio networking."""

from __future__ import annotations

from nacosfast import _core  # fails loudly, with the fix, when the compiled core is not built

__version__ = "0.1.0"
NACOS_COMPAT_VERSION = "1.4.8"
"""The Nacos release whose naming API nacosfast reproduces (shown in server state and members)."""

__all__ = ["NACOS_COMPAT_VERSION", "__version__", "_core"]
