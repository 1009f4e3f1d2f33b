"""The ``kernel`` fixture shared by the GEMM, GEMV and conv kernel tests."""

import pytest

try:
    from fastnn._native import _gemm
except ImportError:  # a build without the extension: the fixture skips
    _gemm = None

#: Every GEMM micro-kernel a build can have (the GEMV follows the GEMM's choice).
KERNELS = list(_gemm.KERNEL_NAMES) if _gemm is not None else []


@pytest.fixture(params=KERNELS)
def kernel(request):
    """Run the test once on each micro-kernel this build and CPU can use, restoring the
    kernel chosen at import afterwards."""
    before = _gemm.kernel_name()
    if not _gemm.select_kernel(request.param):
        pytest.skip(f"kernel {request.param} not built or not supported by this CPU")
    yield request.param
    assert _gemm.select_kernel(before)
