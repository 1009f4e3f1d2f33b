"""Build script for fastnn's native extensions.

Metadata lives in pyproject.toml; this file only describes the compiled parts:

* every extension in ``NATIVE_EXTENSIONS`` is a Cython wrapper in ``fastnn/_native``
  linked with plain C sources from ``csrc/``;
* OpenMP is detected with a compile-and-link test.  A compiler without it still builds
  fastnn, serially, after a clear warning;
* sources listed under ``"avx2"`` are the only ones compiled with ``-mavx2 -mfma``.  The
  kernels pick them at run time from CPUID, so the wheel runs on any x86-64 CPU.  We never
  pass ``-march=native``: a wheel built that way crashes on older machines.
"""

import glob
import os
import platform
import shutil
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# One row per extension module.  "c": portable C sources; "avx2": sources compiled with
# AVX2+FMA flags (x86-64 only).  All paths are relative to the repository root.
NATIVE_EXTENSIONS = [
    {
        "name": "fastnn._native._threads",
        "pyx": "fastnn/_native/_threads.pyx",
        "c": ["csrc/threads.c"],
        "avx2": [],
    },
    {
        "name": "fastnn._native._gemm",
        "pyx": "fastnn/_native/_gemm.pyx",
        "c": ["csrc/gemm/gemm.c", "csrc/gemm/ukernel_ref.c", "csrc/activations.c",
              "csrc/gemm/gemv.c"],
        "avx2": ["csrc/gemm/ukernel_avx2.c", "csrc/gemm/gemv_avx2.c"],
    },
    {
        "name": "fastnn._native._elementwise",
        "pyx": "fastnn/_native/_elementwise.pyx",
        "c": [
            "csrc/activations.c",
            "csrc/losses.c",
            "csrc/rng.c",
        ],
        "avx2": [],
    },
    {
        "name": "fastnn._native._conv",
        "pyx": "fastnn/_native/_conv.pyx",
        "c": ["csrc/conv/conv.c", "csrc/gemm/gemm.c", "csrc/gemm/ukernel_ref.c",
              "csrc/activations.c"],
        "avx2": ["csrc/gemm/ukernel_avx2.c"],
    },
    {
        "name": "fastnn._native._optimizers",
        "pyx": "fastnn/_native/_optimizers.pyx",
        "c": ["csrc/optimizers.c"],
        "avx2": [],
    },
]

# -fno-math-errno: sqrt and friends need not set errno, which lets GCC vectorise them
# (the optimizer updates run 2-4x faster); fastnn never reads errno.
BASE_CFLAGS = ["-O3", "-std=c99", "-fno-strict-aliasing", "-fno-math-errno"]
OPENMP_CFLAGS = ["-fopenmp"]
OPENMP_LDFLAGS = ["-fopenmp"]
AVX2_CFLAGS = ["-mavx2", "-mfma"]

_OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d\\n", n > 0);
        return omp_get_max_threads() > 0 ? 0 : 1;
    }
    """
)


def _try_compile(compiler, source, extra_cflags, extra_ldflags, link=True):
    """Compile (and link) ``source`` with the build's compiler; True when it works."""
    tmp = tempfile.mkdtemp(prefix="fastnn-probe-")
    try:
        path = os.path.join(tmp, "probe.c")
        with open(path, "w") as f:
            f.write(source)
        objects = compiler.compile([path], output_dir=tmp, extra_postargs=extra_cflags)
        if link:
            compiler.link_executable(
                objects, "probe", output_dir=tmp, extra_postargs=extra_ldflags
            )
        return True
    except Exception:  # any compiler or linker failure means "not supported"
        return False
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# cythonize() may return new Extension objects, so AVX2 sources are looked up by name.
_AVX2_SOURCES = {row["name"]: row["avx2"] for row in NATIVE_EXTENSIONS}


def _is_x86_64():
    return platform.machine().lower() in ("x86_64", "amd64", "x64")


class FastnnBuildExt(build_ext):
    """build_ext that probes OpenMP once and compiles AVX2 sources with their own flags."""

    def build_extensions(self):
        if os.environ.get("FASTNN_NO_OPENMP") == "1":
            self.openmp = False
        else:
            self.openmp = _try_compile(
                self.compiler, _OPENMP_TEST, OPENMP_CFLAGS, OPENMP_LDFLAGS
            )
        if not self.openmp:
            print(
                "\n*** fastnn: the C compiler has no usable OpenMP; the native backend is "
                "built serially (one thread). Install a compiler with OpenMP support "
                "(for example gcc, or clang with libomp) for multicore training. ***\n",
                file=sys.stderr,
            )
        self.avx2 = _is_x86_64() and _try_compile(
            self.compiler, "int main(void){return 0;}\n", AVX2_CFLAGS, [], link=False
        )
        for ext in self.extensions:
            ext.extra_compile_args = list(BASE_CFLAGS) + (
                OPENMP_CFLAGS if self.openmp else []
            )
            ext.extra_link_args = list(OPENMP_LDFLAGS if self.openmp else [])
            ext.define_macros = list(ext.define_macros or []) + [
                ("FNN_HAVE_AVX2_BUILD", "1" if self.avx2 else "0"),
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ]
        super().build_extensions()

    def build_extension(self, ext):
        avx2_sources = _AVX2_SOURCES.get(ext.name, [])
        if avx2_sources and self.avx2:
            # Compile the AVX2 files separately so that only they see -mavx2 -mfma.
            objects = self.compiler.compile(
                avx2_sources,
                output_dir=self.build_temp,
                macros=ext.define_macros,
                include_dirs=ext.include_dirs,
                extra_postargs=ext.extra_compile_args + AVX2_CFLAGS,
            )
            ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


def _extensions():
    extensions = []
    for row in NATIVE_EXTENSIONS:
        ext = Extension(
            row["name"],
            sources=[row["pyx"]] + row["c"],
            include_dirs=["csrc", np.get_include()],
            # headers hold the kernel bodies (one source, two dtypes): edits must rebuild
            depends=sorted(glob.glob("csrc/**/*.h", recursive=True)),
            language="c",
        )
        extensions.append(ext)
    return cythonize(
        extensions,
        compiler_directives={
            "language_level": "3",
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )


setup(ext_modules=_extensions(), cmdclass={"build_ext": FastnnBuildExt})
