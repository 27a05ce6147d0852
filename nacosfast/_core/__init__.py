"""The compiled core (Cython): ``registry``, ``beats`` and ``digest``.

Sources live in the repository's top-level ``_core/``; ``make core`` (or ``python setup.py
build_ext --inplace``) compiles them into this package. There is no pure-Python fallback.
"""

from __future__ import annotations

import importlib

_BUILD_HINT = (
    "nacosfast's compiled core is missing or broken ({error}). Build it with `make core` "
    "(or `python setup.py build_ext --inplace` in the repository root, with Cython and a C compiler)."
)

for _module in ("registry", "beats", "digest"):
    try:
        importlib.import_module(f"{__name__}.{_module}")
    except ImportError as error:
        raise ImportError(_BUILD_HINT.format(error=error)) from error
