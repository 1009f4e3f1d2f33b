"""``fastnn info``'s ``install`` and ``build`` lines: a prebuilt wheel or a source build,
and how the extensions were compiled."""

import os

import pytest

import fastnn
from fastnn import backend
from fastnn.info import build_record, build_summary, config_dict, describe_origin

PACKAGE_DIR = os.path.dirname(os.path.abspath(fastnn.__file__))
MANYLINUX = ["cp311-cp311-manylinux_2_17_x86_64"]


def test_a_wheel_file_installed_with_pip_is_a_wheel():
    origin = describe_origin(
        {"url": "file:///tmp/wheelhouse/fastnn-0.1.0-cp311-cp311-manylinux_2_17_x86_64.whl",
         "archive_info": {}},
        MANYLINUX, ["libgomp-a34b3233.so.1.0.0"], package_dir=PACKAGE_DIR)
    assert origin.startswith("wheel fastnn-0.1.0-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert "bundles libgomp-a34b3233.so.1.0.0" in origin


def test_pip_install_of_a_checkout_is_a_source_build():
    origin = describe_origin({"url": "file:///home/me/fastnn", "dir_info": {}},
                             ["cp311-cp311-linux_x86_64"], [], package_dir=PACKAGE_DIR)
    assert origin == "source build: pip compiled it from file:///home/me/fastnn"
    editable = describe_origin({"url": "file:///home/me/fastnn",
                                "dir_info": {"editable": True}}, [], [],
                               package_dir=PACKAGE_DIR)
    assert editable.startswith("source build") and editable.endswith("(editable)")


def test_an_index_install_is_told_apart_by_the_wheel_tag():
    binary = describe_origin(None, MANYLINUX, [], package_dir=PACKAGE_DIR)
    assert binary.startswith("wheel from a package index")
    local = describe_origin(None, ["cp311-cp311-linux_x86_64"], [], package_dir=PACKAGE_DIR)
    assert local.startswith("source build: pip compiled it from a source distribution")
    for tag in ("cp312-cp312-macosx_11_0_arm64", "cp312-cp312-win_amd64"):
        assert describe_origin(None, [tag], [], package_dir=PACKAGE_DIR).startswith("wheel")


def test_a_sdist_archive_is_a_source_build():
    origin = describe_origin({"url": "file:///tmp/fastnn-0.1.0.tar.gz", "archive_info": {}},
                             ["cp311-cp311-linux_x86_64"], [], package_dir=PACKAGE_DIR)
    assert origin.startswith("source build: pip compiled it from the archive")


def test_a_source_tree_says_so():
    origin = describe_origin(None, None, None, package_dir="/src/fastnn",
                             built_by="in-place build")
    assert origin == "source tree (in-place build) at /src/fastnn"
    assert describe_origin(None, None, None, package_dir="/src/fastnn").startswith(
        "source tree (not installed)")


def test_build_summary_names_openmp_kernel_and_debug_state():
    record = {"built_by": "wheel build", "built_at": "2026-01-01T00:00:00Z",
              "compiler": "gcc 12", "openmp": "-fopenmp", "avx2": "-mavx2 -mfma",
              "debug": False, "compile_args": "-O3 -fopenmp -g0"}
    line = build_summary(record)
    for part in ("wheel build at 2026-01-01T00:00:00Z", "gcc 12", "OpenMP -fopenmp",
                 "AVX2 kernel compiled", "release (no debug info)", "-O3 -fopenmp -g0"):
        assert part in line
    serial = build_summary(dict(record, openmp=None, avx2=None, debug=True))
    assert "no OpenMP" in serial and "portable kernel only" in serial and "debug info" in serial
    assert "no build record" in build_summary(None)


@pytest.mark.skipif(not backend.native_available(), reason="native backend not built")
def test_this_fastnn_reports_its_own_build_and_origin():
    record = build_record()
    assert record is not None, "setup.py writes fastnn/_native/_build_info.py"
    facts = config_dict()
    assert facts["build"] == build_summary(record)
    assert bool(record["openmp"]) == facts["openmp"]
    checkout = os.path.exists(os.path.join(os.path.dirname(PACKAGE_DIR), "setup.py"))
    if checkout:  # imported from a source tree
        assert facts["install"].startswith("source tree")
    else:  # installed: CI's `pip install .` compiles from the checkout
        assert facts["install"].startswith(("source build", "wheel"))
    lines = []
    fastnn.show_config(lines.append)
    assert any(line.strip().startswith("install:") for line in lines)
