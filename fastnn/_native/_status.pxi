# The status enum of csrc/fnn_status.h.  Included through _arrays.pxi by every wrapper
# module, so that each exposes the same Python constants (OK, NO_MEMORY, BAD_LABEL,
# NOT_TAKEN) for the codes its entries return: a code means one thing everywhere.

cdef extern from "fnn_status.h" nogil:
    ctypedef enum fnn_status:
        FNN_OK
        FNN_NO_MEMORY
        FNN_BAD_LABEL
        FNN_NOT_TAKEN

OK = FNN_OK
NO_MEMORY = FNN_NO_MEMORY
BAD_LABEL = FNN_BAD_LABEL
NOT_TAKEN = FNN_NOT_TAKEN
