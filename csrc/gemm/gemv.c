/* The GEMV (gemv.h): its portable variant, and the entry that picks a variant.
 *
 * The body is gemv_tmpl.h, instantiated here with a separate multiply and add (no FMA
 * without -mfma; fma() would be a slow library call) and in gemv_avx2.c, where the same
 * a*b + c is contracted into vector FMAs.  The variant follows the
 * GEMM's kernel choice (fnn_gemm_kernel_name), so CPUID, FASTNN_DISABLE_SIMD and the
 * select_kernel test hook decide both together.  The avx512 GEMM kernel runs the AVX2
 * GEMV: every CPU it runs on has AVX2 and FMA (fnn_cpu_has_avx512 checks), and one row
 * is bound by reading B, not by the FMA width (784 x 500 float32 on a Zen 5: AVX2 about
 * 17 us, as fast as OpenBLAS; the portable variant, which avx512 ran before, 75 us).
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
    const char *kernel = fnn_gemm_kernel_name();
    if (strcmp(kernel, "avx2-fma") == 0 || strcmp(kernel, "avx512") == 0)
        return fnn_gemv_avx2(dtype, FNN_GEMV_PASS);
#endif
    return fnn_gemv_portable(dtype, FNN_GEMV_PASS);
}
