/* The GEMV's AVX2+FMA variant (gemv.h, gemv_tmpl.h).  This file alone of the GEMV is
 * compiled with -mavx2 -mfma (setup.py); gemv.c calls it only while the GEMM runs its
 * AVX2 kernel, i.e. after CPUID said the CPU has both. */
#include <string.h>

/* Contract a*b + c into one FMA here (ISO C mode leaves it off): gemv_tmpl.h's
 * multiply-adds are then fused, on vectors and scalars alike. */
#if defined(__clang__)
#pragma clang fp contract(fast)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=fast")
#endif

#include "gemv_common.h"

#define FNN_GEMV_MADD(a, b, c) ((a) * (b) + (c))
#define FNN_TEMPLATE "gemm/gemv_tmpl.h"
#include "../fnn_instantiate.h"

fnn_status fnn_gemv_avx2(FNN_GEMV_ARGS)
{
    FNN_DISPATCH_VOID(dtype, fnn_gemv_run, (FNN_GEMV_PASS));
}
