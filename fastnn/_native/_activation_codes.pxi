# The C activation enum (csrc/activations.h) and its map from fastnn's activation names
# (fastnn/backend/activations.py); included by every wrapper that passes an activation.

cdef extern from "activations.h" nogil:
    cdef enum:
        FNN_ACT_LINEAR
        FNN_ACT_RELU
        FNN_ACT_SIGMOID
        FNN_ACT_TANH
        FNN_ACT_SOFTMAX
        FNN_ACT_LEAKY_RELU
        FNN_ACT_ELU
        FNN_ACT_SELU
        FNN_ACT_GELU
        FNN_ACT_SOFTPLUS
        FNN_ACT_SWISH

ACTIVATION_CODES = {
    "linear": FNN_ACT_LINEAR,
    "relu": FNN_ACT_RELU,
    "sigmoid": FNN_ACT_SIGMOID,
    "tanh": FNN_ACT_TANH,
    "softmax": FNN_ACT_SOFTMAX,
    "leaky_relu": FNN_ACT_LEAKY_RELU,
    "elu": FNN_ACT_ELU,
    "selu": FNN_ACT_SELU,
    "gelu": FNN_ACT_GELU,
    "softplus": FNN_ACT_SOFTPLUS,
    "swish": FNN_ACT_SWISH,
}


cdef inline bint _elementwise_act(int act) noexcept nogil:
    """``act`` is a code the element-wise kernels (and the GEMM epilogue) apply: any but
    softmax, which is row-wise."""
    return 0 <= act <= FNN_ACT_SWISH and act != FNN_ACT_SOFTMAX
