/* See threads.h.  Kept tiny and free of Python headers so every kernel can link it. */
#include "threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

int fnn_openmp_enabled(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int fnn_get_max_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int fnn_num_procs(void) {
#ifdef _OPENMP
    return omp_get_num_procs();
#else
    return 1;
#endif
}

/* e.g. "GCC 12.2.0, OpenMP 201511" ; the macros are the compiler's own. */
#define FNN_STR2(x) #x
#define FNN_STR(x) FNN_STR2(x)
const char *fnn_build_info(void) {
#if defined(__clang__)
#define FNN_CC "clang " __clang_version__
#elif defined(__GNUC__)
#define FNN_CC "GCC " __VERSION__
#else
#define FNN_CC "unknown C compiler"
#endif
#ifdef _OPENMP
    return FNN_CC ", OpenMP " FNN_STR(_OPENMP);
#else
    return FNN_CC ", no OpenMP";
#endif
}
