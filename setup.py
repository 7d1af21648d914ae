"""Builds the Cython kernels in cython_ext/ into their layers of indi_qhy_py; metadata is in pyproject.toml."""

from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = Path(__file__).parent

#: Each kernel is built into the layer that uses it.
LAYER = {"qhy_decode": "decode", "fits_pack": "output"}

extensions = [
    Extension(
        f"indi_qhy_py.{LAYER[pyx.stem]}._{pyx.stem}",
        [str(pyx.relative_to(HERE))],
        include_dirs=[np.get_include(), str(HERE / "cython_ext")],
        depends=[str(h.relative_to(HERE)) for h in (HERE / "cython_ext").glob("*.h")],
        extra_compile_args=["-O3"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for pyx in sorted((HERE / "cython_ext").glob("*.pyx"))
]

setup(ext_modules=cythonize(extensions, compiler_directives={"language_level": "3"}))
