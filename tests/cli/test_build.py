"""The build (setup.py): no stale objects in a later build, no build artifacts as package
data, release flags without debug information, the OpenMP probe, cibuildwheel's matrix.

The fast tests load setup.py as a module (its ``setup()`` call runs only as a script) and
drive its logic on temporary folders; the slow ones compile (``-m slow``).
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SETUP_PY = os.path.join(REPO, "setup.py")

pytestmark = pytest.mark.skipif(not os.path.exists(SETUP_PY),
                                reason="needs the source checkout (setup.py)")


@pytest.fixture(scope="module")
def setup_module():
    pytest.importorskip("setuptools.modified", reason="setup.py needs setuptools>=69")
    spec = importlib.util.spec_from_file_location("fastnn_setup_under_test", SETUP_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _touch(path, text="x"):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    return path


def _build_ext_command(setup_module, tmp_path):
    """A finalized FastnnBuildExt over the real extension table, building into tmp_path."""
    from setuptools.dist import Distribution

    cwd = os.getcwd()
    os.chdir(REPO)  # the extension table's paths are relative to the repository
    try:
        dist = Distribution({"name": "fastnn", "ext_modules": setup_module._extensions()})
        cmd = setup_module.FastnnBuildExt(dist)
        cmd.initialize_options()
        cmd.build_lib = str(tmp_path / "lib")
        cmd.build_temp = str(tmp_path / "temp")
        cmd.finalize_options()
    finally:
        os.chdir(cwd)
    return cmd


# ------------------------------------------------------------------ stale build output

def test_stale_compiled_modules_lists_only_what_this_build_does_not_make(setup_module,
                                                                          tmp_path):
    native = tmp_path / "fastnn" / "_native"
    made = _touch(str(native / "_threads.cpython-311-x86_64-linux-gnu.so"))
    stale = [_touch(str(native / "_conv.cpython-311-x86_64-linux-gnu.so")),
             _touch(str(native / "_old.pyd")),
             _touch(str(tmp_path / "fastnn" / "other" / "_x.cpython-39-darwin.so"))]
    _touch(str(native / "__init__.py"))
    _touch(str(native / "_threads.pyx"))
    found = setup_module.stale_compiled_modules(str(tmp_path / "fastnn"), [made])
    assert found == sorted(os.path.abspath(p) for p in stale)


def test_a_changed_configuration_forces_a_full_rebuild(setup_module, tmp_path):
    first = _build_ext_command(setup_module, tmp_path)
    config = {"compile_args": ["-O3", "-fopenmp"], "openmp": "-fopenmp", "numpy": "2.0"}
    first._forget_stale_outputs(config)
    assert first.force, "with no record of an earlier build, everything is compiled"
    first._write_json(os.path.join(first.build_temp, setup_module.BUILD_CONFIG_FILE), config)

    same = _build_ext_command(setup_module, tmp_path)
    same._forget_stale_outputs(dict(config))
    assert not same.force, "the same configuration may reuse what is up to date"

    serial = dict(config, compile_args=["-O3"], openmp=None)
    changed = _build_ext_command(setup_module, tmp_path)
    changed._forget_stale_outputs(serial)
    assert changed.force
    assert not os.path.exists(os.path.join(changed.build_temp,
                                           setup_module.BUILD_CONFIG_FILE))
    assert setup_module.configuration_changes(config, serial) == ["compile_args", "openmp"]


def test_build_lib_loses_compiled_modules_no_extension_makes(setup_module, tmp_path):
    cmd = _build_ext_command(setup_module, tmp_path)
    kept = cmd.get_ext_fullpath("fastnn._native._threads")
    _touch(kept)
    gone = _touch(os.path.join(os.path.dirname(kept),
                               "_removed_module" + os.path.basename(kept)[len("_threads"):]))
    cmd._forget_stale_outputs({"any": "configuration"})
    assert os.path.exists(kept) and not os.path.exists(gone)


def test_every_extension_rebuilds_when_its_avx2_or_included_sources_change(setup_module):
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        extensions = {ext.name: ext for ext in setup_module._extensions()}
    finally:
        os.chdir(cwd)
    for row in setup_module.NATIVE_EXTENSIONS:
        depends = extensions[row["name"]].depends
        assert set(row["avx2"]) <= set(depends)
        assert set(row.get("avx512", [])) <= set(depends)
        assert "fastnn/_native/_arrays.pxi" in depends
        assert "csrc/fnn_instantiate.h" in depends


def test_build_artifacts_in_the_tree_never_become_package_data(tmp_path):
    """A copy of the checkout with an in-place build's leftovers, and a MANIFEST.in that
    grafts the whole package: build_py (what a wheel's package data comes from) must
    still copy none of them."""
    pytest.importorskip("setuptools.modified", reason="setup.py needs setuptools>=69")
    tree = tmp_path / "tree"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("needs git to copy the checkout")
    for name in filter(None, listed.stdout.decode().split("\0")):
        if os.path.isfile(os.path.join(REPO, name)):
            os.makedirs(os.path.dirname(str(tree / name)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, name), str(tree / name))
    leftovers = ["fastnn/_native/_threads.c", "fastnn/_native/_gone.c",
                 "fastnn/_native/_gone.cpython-311-x86_64-linux-gnu.so",
                 "fastnn/_native/_gone.pyd", "fastnn/_native/_gone.o"]
    for name in leftovers:
        _touch(str(tree / name))
    with open(tree / "MANIFEST.in", "a") as f:
        f.write("graft fastnn\n")
    out = subprocess.run([sys.executable, "setup.py", "-q", "build_py", "--build-lib", "lib"],
                         cwd=tree, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    copied = {os.path.relpath(os.path.join(d, f), tree / "lib")
              for d, _, files in os.walk(tree / "lib") for f in files}
    assert "fastnn/_native/_gemm.pyx" in copied  # the graft did take everything else
    assert not copied & set(leftovers)


# ------------------------------------------------------------------ flags

def test_release_flags_drop_debug_info_and_debug_builds_keep_it(setup_module):
    omp = setup_module.COMPILER_FLAGS["unix"]["openmp"][0]
    release_c, release_l = setup_module.extension_flags("unix", omp, debug=False)
    debug_c, _ = setup_module.extension_flags("unix", omp, debug=True)
    assert release_c[-1] == "-g0" and "-g" not in release_c  # last: after Python's -g
    assert "-g" in debug_c and "-g0" not in debug_c
    assert "-fopenmp" in release_c and "-fopenmp" in release_l
    serial_c, serial_l = setup_module.extension_flags("unix", None, debug=False)
    assert "-fopenmp" not in serial_c + serial_l


def test_msvc_gets_its_own_spelling_and_no_avx2_build(setup_module):
    assert setup_module.compiler_family("msvc") == "msvc"
    assert setup_module.compiler_family("mingw32") == "unix"
    flags = setup_module.COMPILER_FLAGS["msvc"]
    compile_args, link_args = setup_module.extension_flags("msvc", flags["openmp"][0], True)
    assert "/openmp" in compile_args and "/Zi" in compile_args and "/DEBUG" in link_args
    assert not [a for a in compile_args if a.startswith("-")]
    assert flags["avx2"] is None
    assert flags["avx512"] is None


def test_no_flag_ties_the_wheel_to_the_build_machine(setup_module):
    every = []
    for family in setup_module.COMPILER_FLAGS.values():
        every += family["base"] + (family["avx2"] or []) + (family.get("avx512") or [])
        for compile_args, link_args in family["openmp"]:
            every += compile_args + link_args
    assert not [f for f in every if "native" in f or f.startswith(("-march", "-mtune"))]


def test_build_switches_refuse_unknown_words(setup_module):
    assert setup_module.env_switch("FASTNN_DEBUG_BUILD", {}) is False
    assert setup_module.env_switch("FASTNN_DEBUG_BUILD", {"FASTNN_DEBUG_BUILD": "1"})
    assert not setup_module.env_switch("FASTNN_NO_OPENMP", {"FASTNN_NO_OPENMP": "0"})
    with pytest.raises(ValueError, match="FASTNN_DEBUG_BUILD='maybe'"):
        setup_module.env_switch("FASTNN_DEBUG_BUILD", {"FASTNN_DEBUG_BUILD": "maybe"})


def test_openmp_probe_fails_without_openmp_and_passes_with_it(setup_module, tmp_path):
    """The probe must not pass on a compiler that merely ignores the flag (as MSVC does
    with options it does not know): compiled without OpenMP it has to fail."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    compiler = new_compiler()
    customize_compiler(compiler)
    if shutil.which(compiler.compiler_so[0]) is None:
        pytest.skip("no C compiler")
    probe = setup_module._OPENMP_TEST
    assert not setup_module._try_compile(compiler, probe, [], [])
    unix = setup_module.COMPILER_FLAGS["unix"]["openmp"]
    if not any(setup_module._try_compile(compiler, probe, c, l) for c, l in unix):
        pytest.skip("this compiler has no OpenMP")


# ------------------------------------------------------------------ build record

def test_build_info_module_round_trips_the_record(setup_module):
    record = {"built_by": "wheel build", "openmp": "-fopenmp", "debug": False,
              "compile_args": "-O3 -g0", "built_at": "2026-01-01T00:00:00Z"}
    namespace = {}
    exec(setup_module.build_info_source(record), namespace)
    assert namespace["BUILD"] == record


def test_build_time_honours_source_date_epoch(setup_module):
    stamp = setup_module.build_timestamp({"SOURCE_DATE_EPOCH": "1700000000"})
    assert stamp == "2023-11-14T22:13:20Z"


# ------------------------------------------------------------------ cibuildwheel

def test_cibuildwheel_matrix_covers_each_release_platform():
    """pyproject's [tool.cibuildwheel] as cibuildwheel itself reads it (skipped where
    cibuildwheel is not installed: it is a release tool, not a test dependency)."""
    cibuildwheel = shutil.which("cibuildwheel")
    if cibuildwheel is None:
        pytest.skip("cibuildwheel is not installed")
    expected = {"linux": ("manylinux_x86_64", "manylinux_aarch64"),
                "macos": ("macosx_",), "windows": ("win_amd64",)}
    for platform, tags in expected.items():
        out = subprocess.run([cibuildwheel, "--platform", platform,
                              "--print-build-identifiers", REPO],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        identifiers = out.stdout.split()
        for tag in tags:
            assert f"cp39-{tag}" in " ".join(identifiers), (platform, identifiers)
        assert not [i for i in identifiers if "musllinux" in i or "i686" in i
                    or "win32" in i], identifiers


# ------------------------------------------------------------------ real builds (slow)

def _copy_checkout(dest):
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("needs git to copy the checkout")
    for name in filter(None, listed.stdout.decode().split("\0")):
        if os.path.isfile(os.path.join(REPO, name)):
            os.makedirs(os.path.dirname(os.path.join(dest, name)), exist_ok=True)
            shutil.copy2(os.path.join(REPO, name), os.path.join(dest, name))


def _pip_wheel(tree, out, **env):
    """``pip wheel .`` in ``tree`` with this environment's build tools (no download)."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", "--no-build-isolation",
         "-w", out, "."], cwd=tree, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, **env))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (wheel,) = [os.path.join(out, n) for n in os.listdir(out) if n.endswith(".whl")]
    return wheel, result.stdout + result.stderr


def _sections_and_needed(wheel, tmp, member_suffix):
    """(section names, NEEDED libraries) of the wheel's compiled module ending so."""
    with zipfile.ZipFile(wheel) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(member_suffix)]
        path = zf.extract(name, tmp)
    sections = subprocess.run(["readelf", "-S", "-W", path], capture_output=True,
                              text=True, check=True).stdout
    dynamic = subprocess.run(["readelf", "-d", path], capture_output=True, text=True,
                             check=True).stdout
    return sections, dynamic


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("readelf") is None,
                    reason="reads ELF files with readelf")
def test_a_second_wheel_build_compiles_with_its_own_configuration(tmp_path):
    pytest.importorskip("Cython")
    tree = str(tmp_path / "tree")
    _copy_checkout(tree)
    # An earlier serial build, and a module that only it (say, another branch) made.
    serial, _ = _pip_wheel(tree, str(tmp_path / "w1"), FASTNN_NO_OPENMP="1")
    lib = [d for d in os.listdir(os.path.join(tree, "build")) if d.startswith("lib.")][0]
    _touch(os.path.join(tree, "build", lib, "fastnn", "_native",
                        "_leftover" + _ext_suffix()))
    threaded, log = _pip_wheel(tree, str(tmp_path / "w2"))
    assert "rebuilding every extension" in log and "compiling fastnn._native._gemm" in log

    _, serial_dynamic = _sections_and_needed(serial, str(tmp_path / "x1"), "_threads" +
                                             _ext_suffix())
    sections, dynamic = _sections_and_needed(threaded, str(tmp_path / "x2"), "_threads" +
                                             _ext_suffix())
    assert "libgomp" not in serial_dynamic and "libgomp" in dynamic
    assert ".debug_info" not in sections
    with zipfile.ZipFile(threaded) as zf:
        names = zf.namelist()
        record = zf.read("fastnn/_native/_build_info.py").decode()
    assert not [n for n in names if "_leftover" in n]
    assert "'openmp': '-fopenmp'" in record and "'built_by': 'wheel build'" in record

    debug, _ = _pip_wheel(tree, str(tmp_path / "w3"), FASTNN_DEBUG_BUILD="1")
    debug_sections, _ = _sections_and_needed(debug, str(tmp_path / "x3"), "_threads" +
                                             _ext_suffix())
    assert ".debug_info" in debug_sections


def _ext_suffix():
    import sysconfig

    return sysconfig.get_config_var("EXT_SUFFIX")


def test_recorded_build_configuration_compares_equal_when_read_back(setup_module,
                                                                    tmp_path):
    """What build_ext records must equal what it computes next time, or every build
    would look changed and rebuild everything."""
    from setuptools._distutils.ccompiler import new_compiler
    from setuptools._distutils.sysconfig import customize_compiler

    pytest.importorskip("Cython")
    cmd = _build_ext_command(setup_module, tmp_path)
    cmd.compiler = new_compiler()
    customize_compiler(cmd.compiler)
    cmd.openmp_flags = setup_module.COMPILER_FLAGS["unix"]["openmp"][0]
    cmd.avx2_flags = None
    config = cmd._configuration(["-O3", "-g0"], ["-fopenmp"], False)
    stamp = os.path.join(cmd.build_temp, setup_module.BUILD_CONFIG_FILE)
    cmd._write_json(stamp, config)
    assert cmd._read_json(stamp) == config
    assert config["extensions"] == setup_module.NATIVE_EXTENSIONS


def test_avx512_sources_are_the_kernels_linked_with_the_gemm(setup_module):
    """Every extension that links gemm.c (its own copy: _gemm and _conv) compiles the
    AVX-512 kernel too, and only the AVX-512 files get the AVX-512 flags: the GEMM
    kernel, and in _conv the direct convolution's AVX-512 copy (whose AVX2 copy is
    likewise an AVX2 file only)."""
    linking = [row for row in setup_module.NATIVE_EXTENSIONS
               if "csrc/gemm/gemm.c" in row["c"]]
    assert {row["name"] for row in linking} >= {"fastnn._native._gemm",
                                                 "fastnn._native._conv"}
    for row in linking:
        extra = ["csrc/conv/direct_avx512.c"] if row["name"] == "fastnn._native._conv" else []
        assert row.get("avx512") == ["csrc/gemm/ukernel_avx512.c"] + extra
    for row in setup_module.NATIVE_EXTENSIONS:
        assert "csrc/gemm/ukernel_avx512.c" not in row["c"] + row["avx2"]
        assert "csrc/conv/direct_avx512.c" not in row["c"] + row["avx2"]
        assert "csrc/conv/direct_avx2.c" not in row["c"] + row.get("avx512", [])
    assert setup_module.COMPILER_FLAGS["unix"]["avx512"] == ["-mavx512f"]
