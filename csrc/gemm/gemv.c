/* The GEMV (gemv.h): its portable variant, and the entry that picks a variant.
 *
 * The body is gemv_tmpl.h, instantiated here with a separate multiply and add (no FMA
 * without -mfma; fma() would be a slow library call) and in gemv_avx2.c, where the same
 * a*b + c is contracted into vector FMAs.  The variant follows the
 * GEMM's kernel choice (fnn_gemm_kernel_name), so CPUID, FASTNN_DISABLE_SIMD and the
 * select_kernel test hook decide both together.
 */
#include <string.h>

#include "gemm.h"
#include "gemv.h"
#include "gemv_common.h"

#define FNN_GEMV_MADD(a, b, c) ((a) * (b) + (c))
#define FNN_TEMPLATE "gemm/gemv_tmpl.h"
#include "../fnn_instantiate.h"

static fnn_status fnn_gemv_portable(FNN_GEMV_ARGS)
{
    FNN_DISPATCH_VOID(dtype, fnn_gemv_run, (FNN_GEMV_PASS));
}

fnn_status fnn_gemv(FNN_GEMV_ARGS)
{
#if defined(FNN_HAVE_AVX2_BUILD) && FNN_HAVE_AVX2_BUILD
    if (strcmp(fnn_gemm_kernel_name(), "avx2-fma") == 0)
        return fnn_gemv_avx2(dtype, FNN_GEMV_PASS);
#endif
    return fnn_gemv_portable(dtype, FNN_GEMV_PASS);
}
