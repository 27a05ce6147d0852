"""Build the Cython core: sources live in top-level ``_core/``, modules in ``nacosfast._core``."""

from __future__ import annotations

import shutil
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
CORE_SOURCES = ROOT / "_core"
CORE_PACKAGE = ROOT / "nacosfast" / "_core"
CORE_MODULES = ("registry", "beats", "digest", "writes", "fastpath")


class BuildCoreWithStubs(build_ext):
    """Build the extensions, then put each module's ``.pyi`` stub beside it in the package."""

    def run(self) -> None:
        super().run()
        targets = [CORE_PACKAGE]
        if not self.inplace:
            targets.append(Path(self.build_lib) / "nacosfast" / "_core")
        for target in targets:
            target.mkdir(parents=True, exist_ok=True)
            for stub in CORE_SOURCES.glob("*.pyi"):
                shutil.copyfile(stub, target / stub.name)


extensions = [
    Extension(
        f"nacosfast._core.{name}",
        [f"_core/{name}.pyx"],
        include_dirs=["_core"],
        extra_compile_args=["-O3"],
    )
    for name in CORE_MODULES
]

setup(
    ext_modules=cythonize(
        extensions,
        include_path=["_core"],
        language_level=3,
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
    ),
    cmdclass={"build_ext": BuildCoreWithStubs},
)
