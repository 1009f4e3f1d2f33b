"""Build script for fastnn's native extensions.

Metadata lives in pyproject.toml; this file only describes the compiled parts:

* every extension in ``NATIVE_EXTENSIONS`` is a Cython wrapper in ``fastnn/_native``
  linked with plain C sources from ``csrc/``;
* OpenMP is detected with a compile-and-link test (GCC's and clang's ``-fopenmp``, Apple
  clang with libomp, MSVC's ``/openmp``).  A compiler without it still builds fastnn,
  serially, after a clear warning;
* sources listed under ``"avx2"`` are the only ones compiled with ``-mavx2 -mfma``, and
  those under ``"avx512"`` the only ones compiled with ``-mavx512f``.  The kernels pick
  them at run time from CPUID, so the wheel runs on any x86-64 CPU.  We never
  pass ``-march=native``: a wheel built that way crashes on older machines;
* release builds carry no debug information (``FASTNN_DEBUG_BUILD=1`` asks for it);
* a build never reuses what an earlier build left in ``build/`` unless that was compiled
  from the same sources with the same configuration (see ``FastnnBuildExt``), and it
  writes ``fastnn/_native/_build_info.py``, which ``fastnn info`` reads.

Environment switches (each ``1``/``0``; unset means ``0``): ``FASTNN_NO_OPENMP`` builds
without OpenMP, ``FASTNN_DEBUG_BUILD`` keeps debug information.  ``CC``, ``CFLAGS``,
``CPPFLAGS`` and ``LDFLAGS`` reach the compiler as usual.
"""

import datetime
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext
from setuptools.modified import newer_group

# One row per extension module.  "c": portable C sources; "avx2": sources compiled with
# AVX2+FMA flags (x86-64 only); "avx512" (optional): sources compiled with AVX-512F flags.  All paths are relative to the repository root.
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
        "avx512": ["csrc/gemm/ukernel_avx512.c"],
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
        "avx2": ["csrc/gemm/ukernel_avx2.c", "csrc/conv/direct_avx2.c"],
        "avx512": ["csrc/gemm/ukernel_avx512.c", "csrc/conv/direct_avx512.c"],
    },
    {
        "name": "fastnn._native._optimizers",
        "pyx": "fastnn/_native/_optimizers.pyx",
        "c": ["csrc/optimizers.c"],
        "avx2": [],
    },
]

# Flags per compiler family.  "unix" is distutils' name for GCC and clang alike.
COMPILER_FLAGS = {
    "unix": {
        # -fno-math-errno: sqrt and friends need not set errno, which lets GCC vectorise
        # them (the optimizer updates run 2-4x faster); fastnn never reads errno.
        "base": ["-O3", "-std=c99", "-fno-strict-aliasing", "-fno-math-errno"],
        # (compile, link) pairs tried in order; the first that builds the probe wins.
        # Apple clang has no -fopenmp of its own but passes libomp's pragmas through the
        # preprocessor; libomp's -I and -L come from CPPFLAGS and LDFLAGS.
        "openmp": [(["-fopenmp"], ["-fopenmp"]), (["-Xpreprocessor", "-fopenmp"], ["-lomp"])],
        "avx2": ["-mavx2", "-mfma"],
        # The AVX-512F kernel's file only; -mavx512f implies AVX2 and FMA in GCC and
        # clang.  Never -march=native: gemm.c picks the kernel at run time.
        "avx512": ["-mavx512f"],
        # Python's own CFLAGS usually carry -g (sysconfig's CFLAGS); -g0 after it wins.
        "release": ([], ["-g0"]),
        "debug": ([], ["-g"]),
    },
    "msvc": {
        # /std:c11 gives C99's restrict; /fp:precise is MSVC's default, spelled out
        # because the kernels are tested to match NumPy within fixed tolerances.
        "base": ["/O2", "/std:c11", "/fp:precise"],
        "openmp": [(["/openmp"], [])],
        # None: not built.  ukernel_avx2.c uses GCC's attribute syntax and the CPU check
        # reads GCC's builtins, so an MSVC build ships the portable kernel only.
        "avx2": None,
        "avx512": None,
        "release": ([], []),
        "debug": (["/DEBUG"], ["/Zi"]),
    },
}

CYTHON_DIRECTIVES = {
    "language_level": "3",
    "boundscheck": False,
    "wraparound": False,
    "cdivision": True,
    "initializedcheck": False,
}

# What a build or an in-place build leaves beside the sources.  None of it is ever package
# data: a wheel carries only what the build that made it compiled.
BUILD_ARTIFACTS = ["*.so", "*.pyd", "*.dylib", "*.dll", "*.o", "*.obj", "*.c"]
COMPILED_MODULE_SUFFIXES = (".so", ".pyd", ".dylib")

# Where build_ext records the configuration it compiled with (inside build_temp).
BUILD_CONFIG_FILE = "fastnn-build-config.json"
BUILD_INFO_MODULE = os.path.join("fastnn", "_native", "_build_info.py")

SWITCH_ON = ("1", "true", "yes", "on")
SWITCH_OFF = ("", "0", "false", "no", "off")

# The probe fails to compile unless the compiler really runs OpenMP: MSVC ignores options
# it does not know (with a warning), so "it compiled" alone proves nothing.
_OPENMP_TEST = textwrap.dedent(
    """
    #include <omp.h>
    #include <stdio.h>
    #ifndef _OPENMP
    #error "the compiler did not enable OpenMP"
    #endif
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        printf("%d\\n", n > 0);
        return omp_get_max_threads() > 0 ? 0 : 1;
    }
    """
)

# Compiles only if the compiler has the AVX-512F intrinsics ukernel_avx512.c uses (an
# old GCC may accept -mavx512f yet lack some of them).
_AVX512_TEST = textwrap.dedent(
    """
    #include <immintrin.h>
    int main(void) {
        __m512 v = _mm512_fmadd_ps(_mm512_set1_ps(1.0f), _mm512_setzero_ps(),
                                   _mm512_set1_ps(2.0f));
        __m256d h = _mm512_extractf64x4_pd(_mm512_castps_pd(v), 1);
        return (int)_mm256_cvtsd_f64(h);
    }
    """
)


def env_switch(name, environ=None):
    """The yes/no build switch ``name`` from the environment; refuses other words, since a
    user who set it meant something and a silent default would build the wrong thing."""
    value = (os.environ if environ is None else environ).get(name, "").strip().lower()
    if value in SWITCH_ON:
        return True
    if value in SWITCH_OFF:
        return False
    raise ValueError(
        f"{name} must be one of {', '.join(repr(v) for v in SWITCH_ON + SWITCH_OFF)}. "
        f"Received: {name}={value!r}"
    )


def compiler_family(compiler_type):
    """The ``COMPILER_FLAGS`` key for a distutils compiler type (mingw and cygwin are GCC)."""
    return "msvc" if compiler_type == "msvc" else "unix"


def extension_flags(family, openmp_flags, debug):
    """(compile args, link args) of every extension, from the family's flags, the OpenMP
    (compile, link) pair that worked or None, and whether debug information is wanted."""
    flags = COMPILER_FLAGS[family]
    link_extra, compile_extra = flags["debug" if debug else "release"]
    omp_compile, omp_link = openmp_flags if openmp_flags else ([], [])
    return (list(flags["base"]) + list(omp_compile) + list(compile_extra),
            list(omp_link) + list(link_extra))


def stale_compiled_modules(package_root, expected_paths):
    """Compiled modules under ``package_root`` that this build does not make.

    ``build/lib`` outlives a build: a module renamed, dropped from ``NATIVE_EXTENSIONS``
    or built on another branch stays there and ``bdist_wheel`` packs the whole tree.
    """
    expected = {os.path.abspath(p) for p in expected_paths}
    stale = []
    for folder, _, files in os.walk(package_root):
        for name in files:
            path = os.path.abspath(os.path.join(folder, name))
            if name.endswith(COMPILED_MODULE_SUFFIXES) and path not in expected:
                stale.append(path)
    return sorted(stale)


def configuration_changes(previous, current):
    """Keys whose values differ between two build configurations (all of them when there
    is no previous record)."""
    if previous is None:
        return sorted(current)
    return sorted(k for k in set(previous) | set(current)
                  if previous.get(k) != current.get(k))


def build_timestamp(environ=None):
    """UTC build time, or ``SOURCE_DATE_EPOCH``'s when set (reproducible-builds.org), so
    that two builds of one commit can be byte-identical."""
    environ = os.environ if environ is None else environ
    epoch = environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc) if epoch
            else datetime.datetime.now(datetime.timezone.utc))
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def build_info_source(record):
    """The text of the generated ``_build_info.py`` for a build record (a dict)."""
    lines = [
        '"""How this fastnn was compiled.  Written by setup.py at build time; do not edit."""',
        "",
        "BUILD = {",
    ]
    lines += [f"    {key!r}: {value!r}," for key, value in sorted(record.items())]
    lines += ["}", ""]
    return "\n".join(lines)


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


def _compiler_version(compiler):
    """The compiler's first ``--version`` line (its name when it has no such option)."""
    command = getattr(compiler, "compiler_so", None) or [getattr(compiler, "cc", "cl")]
    try:
        out = subprocess.run([command[0], "--version"], capture_output=True, text=True,
                             timeout=30)
        first = (out.stdout or out.stderr).strip().splitlines()
        return first[0] if first else command[0]
    except (OSError, subprocess.SubprocessError):
        return command[0]


_ROWS = {row["name"]: row for row in NATIVE_EXTENSIONS}


def _is_x86_64():
    return platform.machine().lower() in ("x86_64", "amd64", "x64")


class FastnnBuildExt(build_ext):
    """build_ext that probes OpenMP once, compiles AVX2 sources with their own flags, and
    never lets a stale object from an earlier build into this one.

    distutils skips an extension whose output is newer than its sources, so the output of
    any earlier build in ``build/`` (an in-place build, an earlier ``pip install .``)
    used to be reused whatever it was compiled with: a wheel built with OpenMP carried
    the serial ``_threads.so`` of an earlier ``FASTNN_NO_OPENMP=1`` build.  The
    configuration is therefore recorded in ``build_temp``; when it differs (compiler,
    flags, switches, Python, NumPy, Cython, the extension table) everything is rebuilt.
    Compiled modules in ``build/lib`` that this build does not make are deleted, and
    Cython writes its C into ``build_temp``, not beside the ``.pyx`` sources.
    """

    def run(self):
        # setuptools clears self.inplace while it builds, then copies to the source tree
        self.fastnn_inplace = bool(self.inplace)
        super().run()

    def build_extensions(self):
        family = compiler_family(self.compiler.compiler_type)
        flags = COMPILER_FLAGS[family]
        debug = env_switch("FASTNN_DEBUG_BUILD")
        self.openmp_flags = None
        if not env_switch("FASTNN_NO_OPENMP"):
            self.openmp_flags = next(
                (pair for pair in flags["openmp"]
                 if _try_compile(self.compiler, _OPENMP_TEST, pair[0], pair[1])), None)
        if self.openmp_flags is None:
            print(
                "\n*** fastnn: the C compiler has no usable OpenMP; the native backend is "
                "built serially (one thread). Install a compiler with OpenMP support "
                "(for example gcc, or clang with libomp) for multicore training. ***\n",
                file=sys.stderr,
            )
        self.avx2_flags = flags["avx2"] if (
            flags["avx2"] is not None and _is_x86_64() and _try_compile(
                self.compiler, "int main(void){return 0;}\n", flags["avx2"], [],
                link=False)) else None
        # AVX-512 only on top of AVX2 (gemm.c's dispatch assumes it), and only when the
        # compiler knows the intrinsics the kernel uses.
        self.avx512_flags = flags.get("avx512") if (
            self.avx2_flags and flags.get("avx512") and _try_compile(
                self.compiler, _AVX512_TEST, flags["avx512"], [], link=False)) else None
        compile_args, link_args = extension_flags(family, self.openmp_flags, debug)
        config = self._configuration(compile_args, link_args, debug)
        self._forget_stale_outputs(config)
        self._cythonize()
        for ext in self.extensions:
            ext.extra_compile_args = list(compile_args)
            ext.extra_link_args = list(link_args)
            ext.define_macros = list(ext.define_macros or []) + [
                ("FNN_HAVE_AVX2_BUILD", "1" if self.avx2_flags else "0"),
                ("FNN_HAVE_AVX512_BUILD", "1" if self.avx512_flags else "0"),
                ("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"),
            ]
        super().build_extensions()
        self._write_json(os.path.join(self.build_temp, BUILD_CONFIG_FILE), config)
        self._write_build_info(config)

    def _configuration(self, compile_args, link_args, debug):
        """Everything an extension's bytes depend on besides its source files (as JSON
        gives it back, so that it compares equal to the recorded one)."""
        import Cython

        return json.loads(json.dumps({
            "compiler": _compiler_version(self.compiler),
            "compiler_command": list(getattr(self.compiler, "compiler_so", []) or []),
            "compile_args": compile_args,
            "link_args": link_args,
            "openmp": " ".join(self.openmp_flags[0]) if self.openmp_flags else None,
            "avx2": " ".join(self.avx2_flags) if self.avx2_flags else None,
            "avx512": (" ".join(self.avx512_flags)
                       if getattr(self, "avx512_flags", None) else None),
            "debug": debug,
            # fastnn's own switches are in the flags above, as resolved
            "environment": {k: os.environ.get(k) for k in
                            ("CC", "CFLAGS", "CPPFLAGS", "LDFLAGS")},
            "python": sys.version.split()[0],
            "ext_suffix": self.get_ext_filename("x"),
            "numpy": np.__version__,
            "cython": Cython.__version__,
            "extensions": NATIVE_EXTENSIONS,
        }))

    def _forget_stale_outputs(self, config):
        expected = [self.get_ext_fullpath(ext.name) for ext in self.extensions]
        for path in stale_compiled_modules(os.path.join(self.build_lib, "fastnn"), expected):
            print(f"fastnn: removing {path}: no extension of this build makes it",
                  flush=True)
            os.remove(path)
        stamp = os.path.join(self.build_temp, BUILD_CONFIG_FILE)
        previous = self._read_json(stamp)
        if previous != config:
            if previous is not None:
                changed = ", ".join(configuration_changes(previous, config))
                print(f"fastnn: the build configuration changed since the last build in "
                      f"{self.build_temp} ({changed}); rebuilding every extension",
                      flush=True)
            self.force = True
            if os.path.exists(stamp):
                os.remove(stamp)  # a build that fails midway must not look up to date

    def _cythonize(self):
        # Serially, before distutils compiles (with -j, in threads); the C goes into
        # build_temp, so no generated .c is left beside the .pyx sources.
        from Cython.Build import cythonize

        for ext in self.extensions:
            ext.sources = cythonize(
                [ext], force=self.force, quiet=True, build_dir=self.build_temp,
                compiler_directives=CYTHON_DIRECTIVES,
            )[0].sources

    def build_extension(self, ext):
        row = _ROWS.get(ext.name, {})
        avx2_sources = row.get("avx2", []) if self.avx2_flags else []
        avx512_sources = row.get("avx512", []) if self.avx512_flags else []
        ext_path = self.get_ext_fullpath(ext.name)
        if not (self.force or newer_group(list(ext.sources) + list(ext.depends), ext_path,
                                          "newer")):
            print(f"fastnn: {ext.name} is up to date (same sources, same configuration)",
                  flush=True)
            return
        extras = [f"{len(row.get('c', [])) + 1} C files"]
        if avx2_sources:
            extras.append(f"{len(avx2_sources)} AVX2")
        if avx512_sources:
            extras.append(f"{len(avx512_sources)} AVX-512")
        extras.append("OpenMP" if self.openmp_flags else "no OpenMP")
        print(f"fastnn: compiling {ext.name} ({', '.join(extras)})", flush=True)
        for sources, isa_flags in ((avx2_sources, self.avx2_flags),
                                   (avx512_sources, self.avx512_flags)):
            if not sources:
                continue
            # Compile the SIMD files separately so that only they see their ISA flags.
            objects = self.compiler.compile(
                sources,
                output_dir=self.build_temp,
                macros=ext.define_macros,
                include_dirs=ext.include_dirs,
                extra_postargs=ext.extra_compile_args + isa_flags,
            )
            ext.extra_objects = [o for o in (ext.extra_objects or []) if o not in objects]
            ext.extra_objects += objects
        super().build_extension(ext)

    def _write_build_info(self, config):
        record = {
            "built_by": self._built_by(),
            "built_at": build_timestamp(),
            "compiler": config["compiler"],
            "compile_args": " ".join(config["compile_args"]),
            "openmp": config["openmp"],
            "avx2": config["avx2"],
            "avx512": config.get("avx512"),
            "debug": config["debug"],
            "python": config["python"],
            "numpy": config["numpy"],
            "cython": config["cython"],
            "platform": platform.platform(),
        }
        text = build_info_source(record)
        targets = [os.path.join(self.build_lib, BUILD_INFO_MODULE)]
        if self.fastnn_inplace:
            targets.append(BUILD_INFO_MODULE)
        for path in targets:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)

    def _built_by(self):
        if self.fastnn_inplace:
            return "in-place build"
        commands = self.distribution.commands
        if "bdist_wheel" in commands:
            return "wheel build"
        return f"setup.py {' '.join(commands) or 'build_ext'}"

    @staticmethod
    def _read_json(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    @staticmethod
    def _write_json(path, data):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True)


def _extensions():
    headers = sorted(glob.glob("csrc/**/*.h", recursive=True)
                     + glob.glob("fastnn/_native/*.pxi") + glob.glob("fastnn/_native/*.pxd"))
    return [
        Extension(
            row["name"],
            sources=[row["pyx"]] + row["c"],
            include_dirs=["csrc", np.get_include()],
            # headers hold the kernel bodies (one source, two dtypes) and the AVX2 files
            # are compiled on the side: edits to either must rebuild
            depends=headers + row["avx2"] + row.get("avx512", []),
            language="c",
        )
        for row in NATIVE_EXTENSIONS
    ]


if __name__ == "__main__":
    setup(
        ext_modules=_extensions(),
        cmdclass={"build_ext": FastnnBuildExt},
        exclude_package_data={"": BUILD_ARTIFACTS},
    )
