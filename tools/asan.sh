#!/usr/bin/env bash
# Run the kernel tests and the kernel fuzzer against an AddressSanitizer build of the
# native extension.  The ASan build goes into a separate copy of the tree ($ASAN_DIR,
# default /tmp/fastnn-asan), so the normal in-place build is left alone.
#
#   tools/asan.sh                              # kernel tests + 2,000 fuzz cases per primitive
#   FASTNN_FUZZ_EXAMPLES=200 tools/asan.sh     # quicker
#   tools/asan.sh -k matmul                    # extra arguments go to pytest
#
# A clean run ends with pytest's "passed" line and no "ERROR: AddressSanitizer" report
# (ASan aborts the process on the first error).
set -euo pipefail

PY=${PYTHON:-python}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=${ASAN_DIR:-/tmp/fastnn-asan}

rm -rf "$WORK"
mkdir -p "$WORK"
cp -r "$ROOT/setup.py" "$ROOT/pyproject.toml" "$ROOT/csrc" "$ROOT/fastnn" "$ROOT/tests" "$WORK/"
find "$WORK/fastnn" -name '*.so' -delete
cd "$WORK"

CFLAGS="-fsanitize=address -fno-omit-frame-pointer -g" LDFLAGS="-fsanitize=address" \
    "$PY" setup.py build_ext --inplace --build-temp "$WORK/build-temp" > "$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log"; exit 1; }

LD_PRELOAD=$(gcc -print-file-name=libasan.so) \
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 \
FASTNN_FUZZ_EXAMPLES=${FASTNN_FUZZ_EXAMPLES:-2000} \
    "$PY" -m pytest -q -p no:cacheprovider -m "not slow" \
    tests/kernels tests/reliability/test_fuzz_kernels.py "$@"
