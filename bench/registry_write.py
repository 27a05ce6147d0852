"""Write to one service of a given size N times, in process, for instruction counts per write.

    python bench/registry_write.py <update|add-remove> <instances in the service> <N>

``update``: ``put_instance`` of one instance whose weight flips (a new snapshot every time);
``add-remove``: ``put_instance`` of a new instance, then ``remove_instance`` of it (the service keeps
its size). Under ``valgrind --tool=callgrind`` the difference between two values of N divided by their
difference is the instructions one write (or pair) costs: building the service cancels out. See
``bench/README.md``, *Register without O(n) work*.
"""

from __future__ import annotations

import sys

from nacosfast._core.registry import Instance, Registry

NAMESPACE = "public"
SERVICE = "DEFAULT_GROUP@@orders"


def _instance(n: int, weight: float = 1.0) -> Instance:
    return Instance(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 8080, weight=weight)


def main() -> None:
    mode, size, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    registry = Registry()
    registry.put_instances(NAMESPACE, SERVICE, [_instance(n) for n in range(size)], None)
    if mode == "update":
        variants = [_instance(size // 2, 2.0), _instance(size // 2, 1.0)]
        for number in range(count):
            assert registry.put_instance(NAMESPACE, SERVICE, variants[number & 1], None) is not None
    else:
        fresh = [_instance(size + n) for n in range(count)]
        for instance in fresh:
            assert registry.put_instance(NAMESPACE, SERVICE, instance, None) is not None
            assert registry.remove_instance(NAMESPACE, SERVICE, instance.key, True) is not None


if __name__ == "__main__":
    main()
