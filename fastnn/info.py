"""``show_config()``: what this fastnn was built with and what it will use."""

import json
import os
import platform
import sys

import numpy as np


def config_dict():
    """Build and runtime facts as a dict (used by ``show_config`` and ``fastnn bench``)."""
    from . import __version__, backend
    from .threads import get_num_threads, usable_cores

    facts = {
        "fastnn": __version__,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "platform": platform.platform(),
        "machine": platform.machine(),
        "backend": _backend_in_force(backend),
        "native_available": backend.native_available(),
        "openmp": False,
        "cpu": None,
        "simd_kernel": None,
        "gemm_table": None,
        "gemm_float32": None,
        "gemm_float64": None,
        "compiler": None,
        "install": install_origin(),
        "build": build_summary(build_record()),
        "num_threads": get_num_threads(),
        "usable_cores": usable_cores(),
    }
    if facts["native_available"]:
        from ._native import _threads

        facts["openmp"] = _threads.openmp_enabled()
        facts["compiler"] = _threads.compiler_info()
        if not facts["openmp"]:
            facts["num_threads"] = "1 (built without OpenMP)"
        try:
            from ._native import _gemm

            facts["simd_kernel"] = _gemm.kernel_name()
            facts.update(_gemm_facts(_gemm))
        except (ImportError, AttributeError):
            pass
    return facts


def _gemm_facts(gemm):
    """The CPU as the GEMM identified it, and the block sizes it chose for it."""
    cpu = gemm.cpu_info()
    sizes = gemm.block_sizes()
    ident = ", ".join(
        part for part in (
            cpu["vendor"],
            f"family 0x{cpu['family']:x} model 0x{cpu['model']:x}"
            if cpu["family"] >= 0 else "",
        ) if part
    )
    name = cpu["brand"] or "unknown CPU"
    facts = {"cpu": f"{name} ({ident})" if ident else name, "gemm_table": sizes["table"]}
    if hasattr(gemm, "available_kernels"):
        facts["gemm_kernels"] = ", ".join(gemm.available_kernels())
    for dtype in ("float32", "float64"):
        facts[f"gemm_{dtype}"] = ", ".join(
            f"{key.upper()} {value}" for key, value in sizes[dtype].items()
        )
    return facts


def build_record():
    """The dict setup.py wrote into ``fastnn/_native/_build_info.py`` when it compiled the
    extensions, or None (no native build, or one by a setup.py older than the record)."""
    try:
        from ._native._build_info import BUILD
    except ImportError:
        return None
    return dict(BUILD)


def build_summary(record):
    """One line from a build record: when, with what, which flags."""
    if record is None:
        return "no build record (the native extensions are missing or predate it)"
    parts = [
        f"{record.get('built_by', 'unknown build')} at {record.get('built_at', '?')}",
        record.get("compiler") or "unknown compiler",
        f"OpenMP {record['openmp']}" if record.get("openmp") else "no OpenMP",
        ("AVX2 and AVX-512 kernels compiled" if record.get("avx512") else
         "AVX2 kernel compiled") if record.get("avx2") else "portable kernel only",
        "debug info" if record.get("debug") else "release (no debug info)",
        f"flags: {record.get('compile_args', '?')}",
    ]
    return "; ".join(parts)


def install_origin():
    """Whether this fastnn came from a prebuilt wheel or was compiled from source, as the
    installed distribution's own metadata tells (PEP 610's ``direct_url.json``, the
    ``WHEEL`` tag, auditwheel's bundled ``fastnn.libs``)."""
    package_dir = os.path.dirname(os.path.abspath(__file__))
    dist = _installed_distribution(package_dir)
    if dist is None:
        return describe_origin(None, None, None, package_dir=package_dir,
                               built_by=(build_record() or {}).get("built_by"))
    direct_url = dist.read_text("direct_url.json")
    libs_dir = os.path.join(os.path.dirname(package_dir), "fastnn.libs")
    bundled = sorted(os.listdir(libs_dir)) if os.path.isdir(libs_dir) else []
    return describe_origin(
        json.loads(direct_url) if direct_url else None,
        _wheel_tags(dist.read_text("WHEEL") or ""),
        bundled,
        package_dir=package_dir,
    )


def describe_origin(direct_url, wheel_tags, bundled_libs, *, package_dir, built_by=None):
    """The ``install`` line of ``fastnn info``.

    Args:
        direct_url: the distribution's ``direct_url.json`` as a dict, or None when pip
            installed it from an index (or it is not installed at all).
        wheel_tags: the tags of the wheel it was installed from, or None when the package
            is imported from a source tree rather than installed.
        bundled_libs: the libraries auditwheel bundled beside it (``fastnn.libs``).
        package_dir: where the imported package lives.
        built_by: the build record's ``built_by``, for a package imported from a tree.
    """
    if wheel_tags is None:
        how = "in-place build" if built_by == "in-place build" else "not installed"
        return f"source tree ({how}) at {package_dir}"
    tags = ", ".join(wheel_tags) or "untagged"
    bundled = f"; bundles {', '.join(bundled_libs)}" if bundled_libs else ""
    if direct_url is not None:
        url = direct_url.get("url", "?")
        if "dir_info" in direct_url:
            editable = " (editable)" if direct_url["dir_info"].get("editable") else ""
            return f"source build: pip compiled it from {url}{editable}"
        if url.endswith(".whl"):
            return f"wheel {url.rsplit('/', 1)[-1]} [{tags}]{bundled}"
        return f"source build: pip compiled it from the archive {url}"
    # From an index: a wheel pip built here from the sdist has a plain platform tag
    # (linux_x86_64); a distributed binary wheel has a portable one (manylinux, macosx, win).
    if any(_is_portable_tag(tag) for tag in wheel_tags):
        return f"wheel from a package index [{tags}]{bundled}"
    return f"source build: pip compiled it from a source distribution [{tags}]"


def _is_portable_tag(tag):
    platform_tag = tag.rsplit("-", 1)[-1]
    return (platform_tag == "any" or platform_tag.startswith(("manylinux", "musllinux",
                                                              "macosx", "win")))


def _wheel_tags(wheel_text):
    return [line.split(":", 1)[1].strip() for line in wheel_text.splitlines()
            if line.startswith("Tag:")]


def _installed_distribution(package_dir):
    """The installed distribution whose files include this package, or None when fastnn
    is imported from a source tree (whose ``fastnn.egg-info`` lists no installed files)."""
    from importlib import metadata

    try:
        dist = metadata.distribution("fastnn")
    except metadata.PackageNotFoundError:
        return None
    if dist.read_text("RECORD") is None:
        return None
    init = os.path.abspath(str(dist.locate_file("fastnn/__init__.py")))
    return dist if init == os.path.join(package_dir, "__init__.py") else None


def _backend_in_force(backend):
    """The current backend's name, or why there is none (``FASTNN_BACKEND`` invalid, or
    naming a native backend that was not built): ``fastnn info`` is where one goes to
    find that out, so it reports it with the rest instead of dying."""
    try:
        return backend.backend_name()
    except ValueError as exc:
        return f"none: {exc}"


def show_config(print_fn=print):
    """Print the compiler, OpenMP, CPU, GEMM kernel and block sizes, backend and thread
    settings."""
    for key, value in config_dict().items():
        print_fn(f"{key:>17}: {value}")
