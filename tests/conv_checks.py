"""Tolerances shared by the convolution kernel tests (native against NumPy)."""

import numpy as np


def assert_conv_close(got, want, dtype, k):
    """Equal within rounding of sums of ``k`` products in ``dtype``."""
    eps = np.finfo(dtype).eps
    np.testing.assert_allclose(got, want, rtol=16 * eps * max(k, 1) ** 0.5,
                               atol=16 * eps * max(k, 1))


def assert_grads_close(got, want, dtype, k):
    """conv2d_backward's (dx, dw, db) against the reference's: the same entries are
    None (not asked for), the others agree in shape, dtype and value."""
    for g, v in zip(got, want):
        assert (g is None) == (v is None)
        if v is not None:
            assert g.shape == v.shape and g.dtype == v.dtype
            assert_conv_close(g, v, dtype, k)
