/* BLIS-style GEMM driver: blocking, packing, threading, epilogue and kernel dispatch.
 *
 * Design (see gemm_tmpl.h for the loops, ukernel.h for the micro-kernel contract):
 *
 * - Five loops NC / KC / MC around an MR x NR register micro-kernel.  A and B are
 *   packed into contiguous, 64-byte aligned micro-panels; the packing routines read
 *   any row/column strides, so transposed operands cost nothing extra downstream.
 * - Threads: C is cut into a tm x tn grid of rectangles (on MR / NR boundaries), one
 *   per thread, and each thread runs the sequential blocked GEMM on its rectangle.
 *   The grid is chosen to minimize redundant packing: splitting columns makes every
 *   thread pack all of A (m*k each), splitting rows makes every thread pack all of B
 *   (k*n each).  The k reduction is never split, and every element of C is one
 *   fixed-order chain (ukernel.h), so results are bit-identical for any thread count.
 * - Packing buffers are per thread (thread-local storage), allocated on first use and
 *   only ever grown: in steady state (same shapes each training step) a GEMM
 *   allocates nothing.  OpenMP keeps its worker threads alive, so their buffers live
 *   as long as the pool; they are released with the threads at exit.
 * - Two shape-driven shortcuts, neither of which changes a single bit of the result:
 *   a product whose padding to whole tiles wastes much (an output layer with n = 10)
 *   is computed transposed, C^T = B^T A^T (fnn_gemm_prefer_swap); and a row-major B
 *   that one MC block uses once is read in place instead of packed (gemm_tmpl.h).
 * - fastnn/_native calls fnn_gemm / fnn_col_sum, the dtype-generic entries at the end
 *   (fnn_dispatch.h), over the float32 and float64 instantiations of gemm_tmpl.h.
 * - The micro-kernel is picked once (fnn_gemm_init): AVX-512F (ukernel_avx512.c, 8 x 32
 *   float32 / 8 x 16 float64) when this build compiled it (FNN_HAVE_AVX512_BUILD),
 *   CPUID reports it and XGETBV says the OS saves the zmm state, on every CPU but Zen 4
 *   (fnn_gemm_kernel_for_cpu says why); else AVX2+FMA when this build compiled it
 *   (FNN_HAVE_AVX2_BUILD) and CPUID reports both features; unless FASTNN_DISABLE_SIMD
 *   is set to a true value (fnn_simd_disabled_by_env); else the portable C kernel.
 *   FASTNN_GEMM_KERNEL=portable|avx2-fma|avx512 forces one the CPU runs, in each
 *   extension linking this file (_gemm and _conv), so every kernel can be tested and
 *   timed on one machine.  Under valgrind, whose emulated CPUID hides AVX-512, the
 *   AVX2 kernel is chosen, so callgrind counts stay possible.
 * - So are the block sizes: the kernel fixes MR x NR, and a table per micro-
 *   architecture (CPUID vendor, family, model) gives KC, MC, NC per dtype; a CPU no
 *   row fits gets them from the sizes of its caches by a written-down rule.  The
 *   tables, their sources and the rule are under "block-size tables" below.  The
 *   portable kernel keeps its own sizes (ukernel_ref.c).  KC sets where the k sum is
 *   cut into partial sums, so two tables may round differently; for one table the
 *   result never depends on the thread count.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "../activations.h"
#include "gemm.h"
#include "ukernel.h"

#ifndef FNN_HAVE_AVX2_BUILD
#define FNN_HAVE_AVX2_BUILD 0
#endif
#ifndef FNN_HAVE_AVX512_BUILD
#define FNN_HAVE_AVX512_BUILD 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define FNN_TLS __thread
#elif defined(_MSC_VER)
#define FNN_TLS __declspec(thread)
#else
#define FNN_TLS _Thread_local
#endif

/* Products below this many flops (2 m n k) run on one thread: starting a parallel
 * region and packing twice costs more than it saves (measured on a 2-core Zen). */
#define FNN_GEMM_PARALLEL_MIN_FLOPS 2.0e6

/* ------------------------------------------------------------------ the CPU */

/* CPUID is read through GCC/clang's <cpuid.h>; elsewhere (other compilers, other
 * architectures) the vendor, family and model stay unknown and the caches come from
 * sysfs, which Linux fills from the same CPUID leaves or from the device tree. */
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>
#define FNN_HAVE_CPUID 1
#else
#define FNN_HAVE_CPUID 0
#endif

static fnn_cpu_facts fnn_cpu;
static int fnn_cpu_known = 0;

#if FNN_HAVE_CPUID
static void fnn_cpuid_identify(fnn_cpu_facts *cpu)
{
    unsigned int eax, ebx, ecx, edx, base_family, base_model, i;
    if (__get_cpuid(0, &eax, &ebx, &ecx, &edx) == 0)
        return;
    memcpy(cpu->vendor + 0, &ebx, 4); /* the vendor string is EBX, EDX, ECX */
    memcpy(cpu->vendor + 4, &edx, 4);
    memcpy(cpu->vendor + 8, &ecx, 4);
    cpu->vendor[12] = '\0';
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0) {
        /* Intel SDM vol. 2A, CPUID leaf 1 (the same on AMD): the extended family adds
         * to family 0xF only; the extended model extends families 6 and 0xF. */
        base_family = (eax >> 8) & 0xf;
        base_model = (eax >> 4) & 0xf;
        cpu->family = (int)(base_family == 0xf ? base_family + ((eax >> 20) & 0xff)
                                               : base_family);
        cpu->model = (int)(base_family == 0x6 || base_family == 0xf
                               ? base_model | (((eax >> 16) & 0xf) << 4)
                               : base_model);
    }
    if (__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned int regs[12];
        for (i = 0; i < 3; ++i)
            __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1],
                        &regs[4 * i + 2], &regs[4 * i + 3]);
        memcpy(cpu->brand, regs, 48);
        cpu->brand[48] = '\0';
    }
}

/* The deterministic cache parameters: Intel's leaf 4 and AMD's leaf 0x8000001D have
 * the same layout (type and level in EAX, ways/partitions/line size in EBX, sets in
 * ECX, each minus one).  Returns 1 when the leaf gave an L1d and an L2. */
static int fnn_cpuid_caches(fnn_cpu_facts *cpu)
{
    unsigned int eax, ebx, ecx, edx, leaf, i;
    if (strcmp(cpu->vendor, "GenuineIntel") == 0) {
        if (__get_cpuid_max(0, NULL) < 4)
            return 0;
        leaf = 4;
    } else if (strcmp(cpu->vendor, "AuthenticAMD") == 0 ||
               strcmp(cpu->vendor, "HygonGenuine") == 0) {
        /* 0x8000001D exists only with TopologyExtensions (CPUID 0x80000001 ECX[22]). */
        if (__get_cpuid_max(0x80000000u, NULL) < 0x8000001Du ||
            __get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx) == 0 || !(ecx & (1u << 22)))
            return 0;
        leaf = 0x8000001Du;
    } else {
        return 0;
    }
    for (i = 0; i < 16; ++i) {
        unsigned int type, level;
        long bytes;
        __cpuid_count(leaf, i, eax, ebx, ecx, edx);
        type = eax & 0x1f; /* 0: no more caches, 1: data, 2: instruction, 3: unified */
        level = (eax >> 5) & 0x7;
        if (type == 0)
            break;
        if (type == 2)
            continue;
        bytes = (long)((ebx >> 22) + 1) * (long)(((ebx >> 12) & 0x3ff) + 1) *
                (long)((ebx & 0xfff) + 1) * (long)(ecx + 1);
        if (level == 1) cpu->l1d = bytes;
        else if (level == 2) cpu->l2 = bytes;
        else if (level == 3) cpu->l3 = bytes;
    }
    return cpu->l1d > 0 && cpu->l2 > 0;
}
#endif

/* One line of a sysfs file into buf; 0 when it cannot be read. */
static int fnn_read_line(const char *path, char *buf, int len)
{
    FILE *f = fopen(path, "r");
    int ok;
    if (f == NULL)
        return 0;
    ok = fgets(buf, len, f) != NULL;
    fclose(f);
    return ok;
}

/* Linux's view of cpu0's caches (/sys/devices/system/cpu/cpu0/cache/index*: level, type
 * "Data" / "Instruction" / "Unified", size such as "32K").  Returns 1 when it gave an
 * L1d and an L2. */
static int fnn_sysfs_caches(fnn_cpu_facts *cpu)
{
    char path[96], level[16], type[32], size[32];
    int i;
    for (i = 0; i < 8; ++i) {
        char *unit;
        long bytes;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/level", i);
        if (!fnn_read_line(path, level, sizeof level))
            break;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/type", i);
        if (!fnn_read_line(path, type, sizeof type) ||
            strncmp(type, "Instruction", 11) == 0)
            continue;
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu0/cache/index%d/size", i);
        if (!fnn_read_line(path, size, sizeof size))
            continue;
        bytes = strtol(size, &unit, 10);
        if (*unit == 'K') bytes <<= 10;
        else if (*unit == 'M') bytes <<= 20;
        if (level[0] == '1') cpu->l1d = bytes;
        else if (level[0] == '2') cpu->l2 = bytes;
        else if (level[0] == '3') cpu->l3 = bytes;
    }
    return cpu->l1d > 0 && cpu->l2 > 0;
}

const fnn_cpu_facts *fnn_gemm_cpu(void)
{
    if (fnn_cpu_known)
        return &fnn_cpu;
    memset(&fnn_cpu, 0, sizeof fnn_cpu);
    fnn_cpu.family = fnn_cpu.model = -1;
    fnn_cpu.cache_source = "none";
#if FNN_HAVE_CPUID
    fnn_cpuid_identify(&fnn_cpu);
    if (fnn_cpuid_caches(&fnn_cpu))
        fnn_cpu.cache_source = "cpuid";
#endif
    if (strcmp(fnn_cpu.cache_source, "none") == 0) {
        fnn_cpu.l1d = fnn_cpu.l2 = fnn_cpu.l3 = 0;
        if (fnn_sysfs_caches(&fnn_cpu))
            fnn_cpu.cache_source = "sysfs";
    }
    fnn_cpu_known = 1;
    return &fnn_cpu;
}

/* ------------------------------------------------------------------ block-size tables */

/* Block sizes per micro-architecture, for the AVX2+FMA kernel's 6 x 16 (float32) and
 * 6 x 8 (float64) register tile, and ("<arch>-avx512" rows) for the AVX-512 kernel's 8 x
 * 32 / 8 x 16 tile.  The table sets KC, MC, NC; MR and NR are the kernel's.  What each
 * number is for (ukernel.h, gemm_tmpl.h):
 *
 *   KC  the depth of the micro-panels: one MR x KC panel of A and one KC x NR panel of
 *       B are what a micro-kernel call reads, so both must sit in L1d with room to
 *       spare for the C tile's lines and for the next A panel coming in.  Rows keep
 *       them at 66-69% of L1d: (6 + 16) x 256 x 4 B = 22 KiB of 32 KiB for float32,
 *       (6 + 8) x 192 x 8 B = 21 KiB for float64 (zen1-2's inherited float64 KC 256:
 *       88%).  A deeper KC amortizes the C tile's load and store over more FMAs, so KC
 *       is about the largest that fits.
 *   MC  rows of the packed A block, MC x KC, which every NR-column panel of B streams
 *       past: it stays in L2, so about half of L2 (the other half holds the B panels
 *       and C lines passing through).
 *   NC  columns of the packed B block, KC x NC, reused by every MC block: it stays in
 *       L3, in the share of it one core can count on when all cores run GEMMs.
 *
 * Rows (cache sizes from the vendors' optimization guides: AMD's Software Optimization
 * Guides for families 17h, 19h and 1Ah, Intel's 64 and IA-32 Architectures
 * Optimization Reference Manual; which models are which from Linux: the Zen 3 / Zen 4
 * / Zen 5 model ranges are bsp_init_amd's in arch/x86/kernel/cpu/amd.c, which sets
 * X86_FEATURE_ZEN3 for family 19h models 00-0F and 20-5F, ZEN4 for 10-1F and 60-AF,
 * ZEN5 for family 1Ah; Intel's model numbers are arch/x86/include/asm/intel-family.h's):
 *
 *   zen1-2       family 17h (Zen, Zen+, Zen 2; Hygon 18h is a Zen): L1d 32 KiB, L2 512
 *                KiB, L3 8 (Zen 1) or 16 MiB (Zen 2) per 4-core CCX.  The sizes the
 *                AVX2 kernel carried before there were tables (ukernel_avx2.c), kept so
 *                that these CPUs run as before; the kernel was written on the project's
 *                Zen 1 VM (family 23 model 1), but how these sizes were chosen is not
 *                recorded.  KC 256, MC 144 (f32 A block 144 KiB, 28% of L2), NC 2048
 *                (a 2 MiB B block, a quarter of an 8 MiB CCX).  float64: KC 256 still
 *                fits (28 KiB, 88% of L1d), MC 72, NC 1024 (the bytes of float32).
 *   zen3         family 19h models 00-0F, 20-5F: L1d 32 KiB, L2 512 KiB, L3 32 MiB per
 *                8-core CCX (4 MiB a core).  KC 256 / 192 as above; MC 240 / 168
 *                (240 and 252 KiB, half of L2); NC 4096 / 2048 (4 and 3 MiB).
 *   zen4         family 19h models 10-1F, 60-AF (Linux's X86_FEATURE_ZEN4 ranges):
 *                L2 1 MiB, the rest as Zen 3; the 512-bit units are not used by this
 *                kernel.  Half of L2 would give MC 480 / 336, but that measured slower
 *                than zen3's sizes, which this row therefore uses (see Experiments).
 *   zen5         family 1Ah: L1d 48 KiB, L2 1 MiB, L3 32 MiB per 8-core CCX.  KC 384 /
 *                288 (33 and 32 KiB, 69% and 66% of L1d); MC 336 / 222 (504 and 500
 *                KiB); NC 2720 / 1360 (4 and 3 MiB).
 *   haswell-skylake  Intel family 6, Haswell (3C 3F 45 46), Broadwell (3D 47 4F 56),
 *                Skylake and its client successors (4E 5E 8E 9E A5 A6): L1d 32 KiB,
 *                L2 256 KiB, L3 about 2 MiB a core (client) or 2.5 (Xeon E5).  KC 256 /
 *                192; MC 120 / 84 (120 and 126 KiB, half of L2); NC 2048 / 1360 (2 MiB).
 *   skylake-x    Intel family 6 model 55 (Skylake-SP, Cascade Lake, Cooper Lake): L2 1
 *                MiB, L3 1.375 MiB a core (non-inclusive).  KC 256 / 192; MC 480 / 336;
 *                NC 1344 / 880 (1.3 MiB).
 *
 * AVX-512 rows (8 x 32 float32, 8 x 16 float64 tile; the B micro-panel is KC x 128
 * bytes, so KC is lower than for the AVX2 tile):
 *
 *   zen5-avx512  KC 224 / 112 (the rule's: (8 + 32) x 224 x 4 B = 35 KiB, 73% of the 48
 *                KiB L1d; float64 21 KiB), MC 336 / 240 as the zen5 row (504 and 210
 *                KiB of the 1 MiB L2), NC 4096 / 2048 (3.5 MiB B blocks).  KC from 160
 *                to 320 and MC 240-480 measured within 3% of each other (Experiments).
 *   zen4-avx512  Zen 4 (L1d 32 KiB, L2 1 MiB), only when forced (FASTNN_GEMM_KERNEL):
 *                KC 144 / 72 (23 / 14 KiB of L1d), MC 240, NC 4096 / 2048.  Not timed.
 *   skylake-x-avx512  Skylake-SP / Cascade Lake (L1d 32 KiB, L2 1 MiB, 1.375 MiB of L3
 *                a core): KC 144 / 72, MC 480 (270 KiB), NC 1344 / 880 as the skylake-x
 *                row.  Not timed (no such machine).  Ice Lake-SP and Sapphire Rapids
 *                (models 6A, 6C, 8F, CF) have no row: the cache rule on the AVX-512 tile.
 *
 * Any other CPU gets the same rule from the caches it reports (fnn_blocks_from_caches).
 *
 * Experiments.  Zen 4 (2-core VM, AMD EPYC family 25 model 17, FMA peak 115 GFLOP/s a
 * core), float32, best of 3 interleaved rounds, GFLOP/s for the zen1-2 / zen3 / MC-480
 * sizes:
 *     1 thread:  1024^3 103 / 101 / 100; b256 x@W (256x784x500) 96 / 95 / 93;
 *                b256 x.T@dz 102 / 101 / 94; b256 dz@W.T 98 / 93 / 94;
 *                b32 x@W 69 / 86 / 86
 *     2 threads: 1024^3 177 / 175 / 169; b256 x@W 182 / 176 / 155;
 *                b256 x.T@dz 165 / 180 / 137; b256 dz@W.T 190 / 179 / 145;
 *                b32 x@W 83 / 116 / 135
 * An MC as large as half of the 1 MiB L2 leaves a 256-row product one or two MC blocks,
 * too few to share between threads; zen3's MC 240 won overall (sums 475 and 825 against
 * 468 / 799 for zen1-2 and 468 / 741 for MC 480), so zen4 uses it.  The VM is noisy
 * (about +-10% between rounds): the other rows are derived from cache sizes, not timed.
 *
 * AVX-512 against AVX2 and OpenBLAS.  Zen 5 (2-core VM, AMD EPYC family 0x1a model 2,
 * shared with about five other jobs, load average ~7), float32, one thread, each
 * contender in its own fresh process, thread CPU time (time.thread_time), best of 5
 * rounds (benchmarks/bench_gemm_kernels.py), GFLOP/s avx512 / avx2-fma / OpenBLAS 0.3
 * (NumPy's, which runs its Haswell AVX2 kernels on this CPU):
 *     1024^3                  205 / 107 / 111   b32 784x500 x@W         193 /  92 /  98
 *     b32 784x500 x.T@dz      209 / 110 / 102   b32 500x500 x@W         197 /  91 /  91
 *     b32 500x500 x.T@dz      210 / 107 / 103   b32 500x500 dz@W.T      151 /  93 /  92
 *     b32 500x10 x@W           54 /  46 /  48   b32 500x10 x.T@dz        96 /  67 /  56
 *     b32 500x10 dz@W.T       115 /  69 /  60   b128 784x500 x@W        209 /  98 / 108
 *     b128 784x500 x.T@dz     219 / 107 / 105   b128 500x500 x@W        216 / 101 / 105
 *     b128 500x500 x.T@dz     218 / 108 / 107   b128 500x500 dz@W.T     197 /  98 / 106
 *     b128 500x10 x@W          76 /  61 /  62   b128 500x10 x.T@dz      120 /  81 /  65
 *     b128 500x10 dz@W.T      160 /  89 /  81   b256 784x500 x@W        207 / 104 / 108
 *     b256 784x500 x.T@dz     209 / 105 / 110   b256 500x500 x@W        213 / 101 / 110
 *     b256 500x500 x.T@dz     214 / 103 / 111   b256 500x500 dz@W.T     210 / 104 / 109
 *     b256 500x10 x@W          82 /  64 /  65   b256 500x10 x.T@dz      119 /  83 /  64
 *     b256 500x10 dz@W.T      173 /  94 /  84   geometric mean          160 /  89 /  88
 * So avx512 is 1.85x OpenBLAS at 1024^3, 1.65-2.2x on the 500- and 784-wide products and
 * 1.13-2.05x on the 10-unit layer's (geometric mean 1.83x), and 1.8x the avx2-fma
 * kernel.  fma_peak_gflops (best of 8 in that state; it times by the wall clock, so the
 * load lowers it and the shares of it exceed 100% here): ymm 84, zmm 168 GFLOP/s, the
 * factor 2 of Zen 5's two full-width 512-bit FMA pipes.  b32 dz@W.T (151) trails b32
 * x@W (197): W.T must be packed by transposition, whose cost (SSE 4 x 4 blocks, shared
 * by every kernel) is twice as large a share next to a kernel twice as fast.  Products
 * with a 10-unit side gain least: computed transposed, the 10 rows pad to 16 (MR 8),
 * and most of their time is packing and the call.  Block sizes for zen5-avx512, same
 * method, the geometric mean over these 25 products (1024^3 / b256 500x500 x@W): KC 160: 155
 * (209 / 208); KC 192: 160 (217 / 215); KC 224: 159 (215 / 211); KC 256: 161 (218 /
 * 214); KC 320: 161 (211 / 214); KC 224 with MC 240: 157, with MC 480: 160: flat within
 * the noise, so the row keeps the rule's KC 224 and zen5's MC 336.  float64 (same
 * method, best of 5, not tuned: the rule's KC 112), avx512 / avx2-fma / OpenBLAS: 1024^3
 * 99 / 55 / 56, 256x784x500 94 / 52 / 53.  Two threads were not timed (on a machine
 * this busy, thread scaling means nothing).
 * Zen 3 (2-core VM, AMD EPYC family 25 model 1, the zen3 row's own CPU; FMA peak 98
 * GFLOP/s a core), float32, 1 thread, thread CPU time, best of 10 interleaved rounds in
 * one process, geometric mean over 1024^3 and seven products of the MLP step: zen3
 * 75.6-76.4, zen1-2 75.5-76.1, the cache rule's KC 272 with MC 150 / 258 / 480: 74.4 /
 * 74.8 / 74.3; OpenBLAS 78.4-80.2.  The rows are level within the noise, so zen3 keeps
 * its derived sizes; OpenBLAS leads on the forward products x @ W (0.90-0.94x), where
 * perf put 10% of the time in packing W (14% before fnn_pack_rows) and 73% in the
 * micro-kernel.
 * benchmarks/bench_gemm_tables.py times a 1024^3 product and the products of a
 * 784-500-500-10 training step under every row against NumPy's @, with the CPU model
 * and the share of the FMA peak; its output on a quiet machine of each kind belongs
 * here, row by row, with the CPU it ran on.
 */
#ifndef FNN_ZEN5_AVX512_KC_F32
#define FNN_ZEN5_AVX512_KC_F32 224
#endif
#ifndef FNN_ZEN5_AVX512_KC_F64
#define FNN_ZEN5_AVX512_KC_F64 112
#endif
typedef struct {
    const char *name;
    const char *kernel; /* the kernel whose tile the row is for */
    int kc_f32, mc_f32, nc_f32;
    int kc_f64, mc_f64, nc_f64;
} fnn_gemm_table;

/* A micro-architecture's rows: "<arch>" for the AVX2 kernel, "<arch>-avx512" for the
 * AVX-512 one (fnn_gemm_row_for). */
static const fnn_gemm_table fnn_gemm_tables[] = {
    /* name                 kernel       KC   MC   NC (f32)   KC   MC   NC (f64) */
    {"zen1-2",             "avx2-fma",  256, 144, 2048,      256,  72, 1024},
    {"zen3",               "avx2-fma",  256, 240, 4096,      192, 168, 2048},
    {"zen4",               "avx2-fma",  256, 240, 4096,      192, 168, 2048}, /* = zen3 */
    {"zen5",               "avx2-fma",  384, 336, 2720,      288, 222, 1360},
    {"haswell-skylake",    "avx2-fma",  256, 120, 2048,      192,  84, 1360},
    {"skylake-x",          "avx2-fma",  256, 480, 1344,      192, 336,  880},
    {"zen4-avx512",        "avx512",    144, 240, 4096,       72, 240, 2048},
    {"zen5-avx512",        "avx512",    FNN_ZEN5_AVX512_KC_F32, 336, 4096,
                                        FNN_ZEN5_AVX512_KC_F64, 240, 2048},
    {"skylake-x-avx512",   "avx512",    144, 480, 1344,       72, 480,  880},
};
#define FNN_GEMM_NTABLES ((int)(sizeof fnn_gemm_tables / sizeof fnn_gemm_tables[0]))

static const fnn_gemm_table *fnn_gemm_table_named(const char *name)
{
    int i;
    for (i = 0; i < FNN_GEMM_NTABLES; ++i)
        if (strcmp(fnn_gemm_tables[i].name, name) == 0)
            return &fnn_gemm_tables[i];
    return NULL;
}

const char *fnn_gemm_table_row(int i)
{
    return i >= 0 && i < FNN_GEMM_NTABLES ? fnn_gemm_tables[i].name : NULL;
}

/* The micro-architecture of a CPU (the name of its AVX2 row), or NULL when no row is
 * known to fit (then: the cache rule). */
static const fnn_gemm_table *fnn_gemm_table_for(const char *vendor, int f, int m)
{
    if (strcmp(vendor, "AuthenticAMD") == 0 || strcmp(vendor, "HygonGenuine") == 0) {
        if (f == 0x17 || f == 0x18)
            return fnn_gemm_table_named("zen1-2");
        if (f == 0x19)
            return fnn_gemm_table_named((m >= 0x10 && m <= 0x1f) || (m >= 0x60 && m <= 0xaf)
                                            ? "zen4" : "zen3");
        if (f == 0x1a)
            return fnn_gemm_table_named("zen5");
    } else if (strcmp(vendor, "GenuineIntel") == 0 && f == 6) {
        static const int client[] = {0x3c, 0x3f, 0x45, 0x46, 0x3d, 0x47, 0x4f, 0x56,
                                     0x4e, 0x5e, 0x8e, 0x9e, 0xa5, 0xa6};
        size_t i;
        for (i = 0; i < sizeof client / sizeof client[0]; ++i)
            if (m == client[i])
                return fnn_gemm_table_named("haswell-skylake");
        if (m == 0x55)
            return fnn_gemm_table_named("skylake-x");
    }
    return NULL;
}

const char *fnn_gemm_table_for_cpu(const char *vendor, int family, int model)
{
    const fnn_gemm_table *row = fnn_gemm_table_for(vendor, family, model);
    return row != NULL ? row->name : NULL;
}

/* The row of micro-architecture arch (an AVX2 row) made for kernel, or NULL: the AVX2
 * kernel uses arch's row itself, the AVX-512 kernel the row "<arch>-avx512" if there is
 * one (a CPU without such a row gets the cache rule on the AVX-512 tile). */
static const fnn_gemm_table *fnn_gemm_row_for(const fnn_gemm_table *arch,
                                              const char *kernel)
{
    char name[64];
    int i;
    if (arch == NULL)
        return NULL;
    if (strcmp(arch->kernel, kernel) == 0)
        return arch;
    snprintf(name, sizeof name, "%s-%s", arch->name, kernel);
    for (i = 0; i < FNN_GEMM_NTABLES; ++i)
        if (strcmp(fnn_gemm_tables[i].name, name) == 0 &&
            strcmp(fnn_gemm_tables[i].kernel, kernel) == 0)
            return &fnn_gemm_tables[i];
    return NULL;
}

const char *fnn_gemm_table_for_cpu_kernel(const char *vendor, int family, int model,
                                          const char *kernel)
{
    const fnn_gemm_table *row =
        fnn_gemm_row_for(fnn_gemm_table_for(vendor, family, model), kernel);
    return row != NULL ? row->name : NULL;
}

/* Which SIMD kernel a CPU with AVX-512F (and the OS's zmm state) runs: "avx512",
 * except on Zen 4, whose 512-bit FMAs are two 256-bit halves issued over two cycles,
 * so the AVX-512 kernel has the AVX2 kernel's FLOPs per cycle; zen4's AVX2 sizes are
 * the measured ones (see Experiments) and the AVX-512 kernel was not timed on a Zen 4,
 * so Zen 4 keeps AVX2 (FASTNN_GEMM_KERNEL=avx512 runs the other, to measure it). */
const char *fnn_gemm_kernel_for_cpu(const char *vendor, int family, int model,
                                    int has_avx512)
{
    const fnn_gemm_table *arch = fnn_gemm_table_for(vendor, family, model);
    if (!has_avx512)
        return "avx2-fma";
    if (arch != NULL && strcmp(arch->name, "zen4") == 0)
        return "avx2-fma";
    return "avx512";
}

/* The cache rule, for one dtype of `size` bytes and an mr x nr tile; sizes in bytes, 0
 * when unknown (then 32 KiB L1d, 512 KiB L2, 2 MiB for the B block: a Zen 1/2 core):
 *
 *   KC = 3/4 of L1d / ((MR + NR) x size): the A and B micro-panels of one call in
 *        three quarters of L1d, the rest for C's lines and the next A panel; rounded
 *        down to a multiple of 8, at least 8, at most 1024.
 *   MC = 1/2 of L2 / (KC x size): the A block in half of L2 (B panels and C lines
 *        stream through the other half); a multiple of MR, at least MR, at most 1020.
 *   NC = min(1/4 of L3, 4 MiB) / (KC x size): the B block in a quarter of L3 (the
 *        L3 reported is the whole shared cache, and each thread packs its own B
 *        block), capped at 4 MiB as no row needs more; a multiple of NR, at least NR,
 *        at most 4096.  No L3: 2 MiB, as a B block then streams from memory anyway.
 *
 * On 32 KiB / 512 KiB / 32 MiB this gives float32 272 / 240 / 3840 (the zen3 row,
 * rounded to round numbers, picks 256 / 240 / 4096). */
static void fnn_blocks_from_caches(int mr, int nr, int size, long l1d, long l2, long l3,
                                   int *kc, int *mc, int *nc)
{
    const long l1 = l1d > 0 ? l1d : 32L << 10;
    const long l2b = l2 > 0 ? l2 : 512L << 10;
    const long b_share = l3 > 0 ? (l3 / 4 < (4L << 20) ? l3 / 4 : 4L << 20) : 2L << 20;
    long v;
    v = 3 * l1 / 4 / ((long)(mr + nr) * size) / 8 * 8;
    *kc = (int)(v < 8 ? 8 : v > 1024 ? 1024 : v);
    v = l2b / 2 / ((long)*kc * size) / mr * mr;
    *mc = (int)(v < mr ? mr : v > 1020 ? 1020 / mr * mr : v);
    v = b_share / ((long)*kc * size) / nr * nr;
    *nc = (int)(v < nr ? nr : v > 4096 ? 4096 / nr * nr : v);
}

/* ------------------------------------------------------------------ dispatch */

static const fnn_gemm_kernel *fnn_gemm_kernel_in_use = NULL;
/* The block sizes of the kernel in use under the table in use (gemm_tmpl.h reads them
 * as FNN_F(fnn_bs_in_use)), and that table's name. */
static fnn_blocksizes fnn_bs_in_use_f32, fnn_bs_in_use_f64;
static char fnn_table_in_use[128];

static int fnn_cpu_has_avx2_fma(void)
{
#if FNN_HAVE_AVX2_BUILD && (defined(__GNUC__) || defined(__clang__)) &&                  \
    (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* AVX-512F usable: the CPU has it (CPUID 7.0 EBX[16]) and the OS saves the state the
 * kernel touches.  The OS part is checked here rather than left to libgcc, whose
 * __builtin_cpu_supports did not look at XGETBV in every GCC version: OSXSAVE (CPUID 1
 * ECX[27]) must be set, and XCR0 must enable SSE, AVX (bits 1, 2) and the three
 * AVX-512 states, opmask and the zmm halves (bits 5, 6, 7).  A kernel that ran without
 * them would fault or silently lose register state on a context switch. */
static int fnn_cpu_has_avx512(void)
{
#if FNN_HAVE_AVX512_BUILD && FNN_HAVE_CPUID
    unsigned int eax, ebx, ecx, edx, xcr0_lo, xcr0_hi;
    if (!fnn_cpu_has_avx2_fma())
        return 0;
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0 || !(ecx & (1u << 27)))
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    if (!(ebx & (1u << 16)))
        return 0;
    /* xgetbv by its opcode bytes: no -mxsave needed for this file */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    (void)xcr0_hi;
    return (xcr0_lo & 0xe6u) == 0xe6u;
#else
    return 0;
#endif
}

/* The kernel called name, if this build has it and this CPU runs it; else NULL. */
static const fnn_gemm_kernel *fnn_gemm_kernel_named(const char *name)
{
    if (strcmp(name, fnn_gemm_kernel_portable.name) == 0)
        return &fnn_gemm_kernel_portable;
#if FNN_HAVE_AVX2_BUILD
    if (strcmp(name, fnn_gemm_kernel_avx2.name) == 0 && fnn_cpu_has_avx2_fma())
        return &fnn_gemm_kernel_avx2;
#endif
#if FNN_HAVE_AVX512_BUILD
    if (strcmp(name, fnn_gemm_kernel_avx512.name) == 0 && fnn_cpu_has_avx512())
        return &fnn_gemm_kernel_avx512;
#endif
    return NULL;
}

int fnn_gemm_kernel_available(const char *name)
{
    return fnn_gemm_kernel_named(name) != NULL;
}

/* FASTNN_DISABLE_SIMD is a yes/no switch: unset, "", "0", "false", "no" and "off" (any
 * case) keep the SIMD kernel; anything else disables it, since a user who sets the
 * variable to an unexpected word most likely meant to disable (fastnn/_native/__init__.py
 * warns about such a value).  Only "0" used to keep it, so "false" disabled SIMD. */
static int fnn_simd_disabled_by_env(void)
{
    static const char *const keep[] = {"", "0", "false", "no", "off"};
    const char *v = getenv("FASTNN_DISABLE_SIMD");
    size_t i, j;
    if (v == NULL) return 0;
    for (i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        for (j = 0; keep[i][j] && v[j]; j++) {
            char c = v[j];
            if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
            if (c != keep[i][j]) break;
        }
        if (keep[i][j] == '\0' && v[j] == '\0') return 0;
    }
    return 1;
}

/* The kernel's tile with a table's KC, MC, NC, MC and NC rounded down to whole tiles
 * (a table row's MC may not be a multiple of another kernel's MR). */
static fnn_blocksizes fnn_fit_blocks(const fnn_blocksizes *tile, int kc, int mc, int nc)
{
    fnn_blocksizes bs = *tile;
    bs.kc = kc > 0 ? kc : 1;
    bs.mc = mc / bs.mr * bs.mr > bs.mr ? mc / bs.mr * bs.mr : bs.mr;
    bs.nc = nc / bs.nr * bs.nr > bs.nr ? nc / bs.nr * bs.nr : bs.nr;
    return bs;
}

static void fnn_use_row(const fnn_gemm_kernel *kern, const fnn_gemm_table *row)
{
    fnn_bs_in_use_f32 =
        fnn_fit_blocks(&kern->bs_f32, row->kc_f32, row->mc_f32, row->nc_f32);
    fnn_bs_in_use_f64 =
        fnn_fit_blocks(&kern->bs_f64, row->kc_f64, row->mc_f64, row->nc_f64);
    snprintf(fnn_table_in_use, sizeof fnn_table_in_use, "%s", row->name);
}

/* The portable kernel's own sizes (ukernel_ref.c) as a row called "portable". */
static fnn_gemm_table fnn_portable_row(void)
{
    const fnn_gemm_kernel *p = &fnn_gemm_kernel_portable;
    fnn_gemm_table row;
    row.name = p->name;
    row.kc_f32 = p->bs_f32.kc; row.mc_f32 = p->bs_f32.mc; row.nc_f32 = p->bs_f32.nc;
    row.kc_f64 = p->bs_f64.kc; row.mc_f64 = p->bs_f64.mc; row.nc_f64 = p->bs_f64.nc;
    return row;
}

/* "32 KiB", "1 MiB", "1.5 MiB" or "unknown" into buf. */
static void fnn_format_size(char *buf, size_t len, long bytes)
{
    if (bytes <= 0)
        snprintf(buf, len, "unknown");
    else if (bytes < (1L << 20) || bytes % (1L << 19) != 0)
        snprintf(buf, len, "%ld KiB", bytes >> 10);
    else
        snprintf(buf, len, "%g MiB", (double)bytes / (double)(1L << 20));
}

static void fnn_use_caches(const fnn_gemm_kernel *kern, long l1d, long l2, long l3)
{
    char s1[24], s2[24], s3[24];
    int kc, mc, nc;
    fnn_blocks_from_caches(kern->bs_f32.mr, kern->bs_f32.nr, (int)sizeof(float), l1d, l2,
                           l3, &kc, &mc, &nc);
    fnn_bs_in_use_f32 = fnn_fit_blocks(&kern->bs_f32, kc, mc, nc);
    fnn_blocks_from_caches(kern->bs_f64.mr, kern->bs_f64.nr, (int)sizeof(double), l1d, l2,
                           l3, &kc, &mc, &nc);
    fnn_bs_in_use_f64 = fnn_fit_blocks(&kern->bs_f64, kc, mc, nc);
    fnn_format_size(s1, sizeof s1, l1d);
    fnn_format_size(s2, sizeof s2, l2);
    fnn_format_size(s3, sizeof s3, l3);
    snprintf(fnn_table_in_use, sizeof fnn_table_in_use, "from caches: L1d %s, L2 %s, L3 %s",
             s1, s2, s3);
}

/* The choice at init: the portable kernel keeps its own sizes (ukernel_ref.c, which no
 * row was made for); a SIMD kernel takes this CPU's row, or the rule on its caches. */
static void fnn_use_auto_table(const fnn_gemm_kernel *kern)
{
    const fnn_cpu_facts *cpu = fnn_gemm_cpu();
    const fnn_gemm_table *row = fnn_gemm_row_for(
        fnn_gemm_table_for(cpu->vendor, cpu->family, cpu->model), kern->name);
    if (kern == &fnn_gemm_kernel_portable) {
        const fnn_gemm_table own = fnn_portable_row();
        fnn_use_row(kern, &own);
    } else if (row != NULL) {
        fnn_use_row(kern, row);
    } else {
        fnn_use_caches(kern, cpu->l1d, cpu->l2, cpu->l3);
    }
}

/* The choice at init: FASTNN_DISABLE_SIMD (a true value) gives the portable kernel;
 * else FASTNN_GEMM_KERNEL, when set to a kernel this build and CPU run ("portable",
 * "avx2-fma", "avx512"), forces that one, so that tests and benchmarks reach every
 * kernel in every extension (conv links its own copy of this file, which the Python
 * select_kernel hook of _gemm does not reach); fastnn/_native/__init__.py warns about a
 * name that is not available.  Else the best SIMD kernel for this CPU
 * (fnn_gemm_kernel_for_cpu), else the portable one. */
void fnn_gemm_init(void)
{
    const fnn_gemm_kernel *kern = &fnn_gemm_kernel_portable;
    const char *forced = getenv("FASTNN_GEMM_KERNEL");
    if (fnn_gemm_kernel_in_use != NULL)
        return;
    if (!fnn_simd_disabled_by_env()) {
        const fnn_gemm_kernel *named =
            forced != NULL && forced[0] != '\0' ? fnn_gemm_kernel_named(forced) : NULL;
        if (named != NULL) {
            kern = named;
        } else if (fnn_cpu_has_avx2_fma()) {
            const fnn_cpu_facts *cpu = fnn_gemm_cpu();
            const fnn_gemm_kernel *best = fnn_gemm_kernel_named(fnn_gemm_kernel_for_cpu(
                cpu->vendor, cpu->family, cpu->model, fnn_cpu_has_avx512()));
            if (best != NULL)
                kern = best;
        }
    }
    fnn_use_auto_table(kern); /* the sizes first: a non-NULL kernel means "ready" */
    fnn_gemm_kernel_in_use = kern;
}

static const fnn_gemm_kernel *fnn_gemm_active(void)
{
    if (fnn_gemm_kernel_in_use == NULL)
        fnn_gemm_init();
    return fnn_gemm_kernel_in_use;
}

const char *fnn_gemm_kernel_name(void)
{
    return fnn_gemm_active()->name;
}

int fnn_gemm_select_kernel(const char *name)
{
    const fnn_gemm_kernel *kern = fnn_gemm_kernel_named(name);
    fnn_gemm_active();
    if (kern == NULL)
        return -1;
    fnn_use_auto_table(kern);
    fnn_gemm_kernel_in_use = kern;
    return 0;
}

int fnn_gemm_select_table(const char *name)
{
    const fnn_gemm_kernel *kern = fnn_gemm_active();
    const fnn_gemm_table *row = fnn_gemm_table_named(name);
    if (row != NULL) {
        fnn_use_row(kern, row);
    } else if (strcmp(name, fnn_gemm_kernel_portable.name) == 0) {
        const fnn_gemm_table own = fnn_portable_row();
        fnn_use_row(kern, &own);
    } else if (strcmp(name, "caches") == 0) {
        const fnn_cpu_facts *cpu = fnn_gemm_cpu();
        fnn_use_caches(kern, cpu->l1d, cpu->l2, cpu->l3);
    } else if (strcmp(name, "auto") == 0) {
        fnn_use_auto_table(kern);
    } else {
        return -1;
    }
    return 0;
}

void fnn_gemm_table_from_caches(long l1d, long l2, long l3)
{
    fnn_use_caches(fnn_gemm_active(), l1d, l2, l3);
}

const char *fnn_gemm_table_name(void)
{
    fnn_gemm_active();
    return fnn_table_in_use;
}

fnn_status fnn_gemm_block_sizes(fnn_dtype dtype, int *mr, int *nr, int *kc, int *mc,
                                int *nc)
{
    const fnn_blocksizes *bs;
    fnn_gemm_active();
    if (dtype == FNN_FLOAT32)
        bs = &fnn_bs_in_use_f32;
    else if (dtype == FNN_FLOAT64)
        bs = &fnn_bs_in_use_f64;
    else
        return FNN_NOT_TAKEN;
    *mr = bs->mr; *nr = bs->nr; *kc = bs->kc; *mc = bs->mc; *nc = bs->nc;
    return FNN_OK;
}

/* ------------------------------------------------------------------ FMA peak */

static double fnn_wtime(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return (double)clock() / CLOCKS_PER_SEC;
#endif
}

typedef float (*fnn_fma_probe)(long iters);

double fnn_fma_peak_gflops(int nthreads)
{
    return fnn_fma_peak_gflops_of(fnn_gemm_kernel_name(), nthreads);
}

/* The probe is the kernel's own instruction mix: the widest FMA it issues (zmm for
 * avx512, ymm for avx2-fma, the compiler's baseline vectors for portable), so that a
 * GEMM's share of "the peak" is a share of what its kernel can reach and stays below
 * 100% (an avx512 GEMM measured against the ymm peak read up to 190% on Zen 5). */
double fnn_fma_peak_gflops_of(const char *kernel, int nthreads)
{
    fnn_fma_probe probe = fnn_fma_probe_ref;
    double flops_per_iter = FNN_FMA_PROBE_REF_FLOPS, best = 0.0, dt = 0.0;
    volatile float sink = 0.0f;
    long iters = 1L << 14;
    int rep;
    const fnn_gemm_kernel *kern = fnn_gemm_kernel_named(kernel);
    if (kern == NULL)
        return -1.0;
#if FNN_HAVE_AVX2_BUILD
    if (kern == &fnn_gemm_kernel_avx2) {
        probe = fnn_fma_probe_avx2;
        flops_per_iter = FNN_FMA_PROBE_AVX2_FLOPS;
    }
#endif
#if FNN_HAVE_AVX512_BUILD
    if (kern == &fnn_gemm_kernel_avx512) {
        probe = fnn_fma_probe_avx512;
        flops_per_iter = FNN_FMA_PROBE_AVX512_FLOPS;
    }
#endif
#ifndef _OPENMP
    nthreads = 1;
#endif
    if (nthreads < 1)
        nthreads = 1;
    /* Calibrate on one thread: about 20 ms per run. */
    while (iters < (1L << 40)) {
        const double t0 = fnn_wtime();
        sink = sink + probe(iters);
        dt = fnn_wtime() - t0;
        if (dt >= 0.02)
            break;
        iters = dt > 1e-4 ? (long)((double)iters * 0.025 / dt) : iters * 8;
    }
    for (rep = 0; rep < 5; ++rep) {
        double elapsed = 0.0;
        float s = 0.0f;
#ifdef _OPENMP
#pragma omp parallel num_threads(nthreads) reduction(+ : s)
        {
            double t0;
            /* Time from a common start to the last thread's end, wake-up excluded. */
#pragma omp barrier
            t0 = omp_get_wtime();
            s += probe(iters);
#pragma omp barrier
#pragma omp master
            elapsed = omp_get_wtime() - t0;
        }
#else
        {
            const double t0 = fnn_wtime();
            s += probe(iters);
            elapsed = fnn_wtime() - t0;
        }
#endif
        sink = sink + s;
        if (elapsed > 0.0) {
            const double g = (double)nthreads * (double)iters * flops_per_iter / elapsed / 1e9;
            if (g > best)
                best = g;
        }
    }
    (void)sink;
    return best;
}

/* ------------------------------------------------------------------ buffers */

typedef struct {
    void *raw;      /* what malloc returned */
    void *aligned;  /* raw rounded up to 64 bytes */
    size_t bytes;   /* usable bytes from aligned */
} fnn_buffer;

static FNN_TLS fnn_buffer fnn_tls_pack_a;
static FNN_TLS fnn_buffer fnn_tls_pack_b;

/* Grows buf to at least bytes (never shrinks).  Returns 0, or -1 on failure. */
static int fnn_buffer_reserve(fnn_buffer *buf, size_t bytes)
{
    void *raw;
    if (buf->bytes >= bytes)
        return 0;
    /* Round up so that small growth steps do not reallocate over and over. */
    bytes = (bytes + 4095) & ~(size_t)4095;
    raw = malloc(bytes + 64);
    if (raw == NULL)
        return -1;
    free(buf->raw);
    buf->raw = raw;
    buf->aligned = (void *)(((uintptr_t)raw + 63) & ~(uintptr_t)63);
    buf->bytes = bytes;
    return 0;
}

static int fnn_gemm_buffers(size_t a_bytes, size_t b_bytes, void **a, void **b)
{
    if (fnn_buffer_reserve(&fnn_tls_pack_a, a_bytes) != 0 ||
        fnn_buffer_reserve(&fnn_tls_pack_b, b_bytes) != 0)
        return -1;
    *a = fnn_tls_pack_a.aligned;
    *b = fnn_tls_pack_b.aligned;
    return 0;
}

/* ------------------------------------------------------------------ blocking */

/* The block size for len split into ceil(len / max_block) nearly equal blocks,
 * rounded up to a multiple of unit (MR or NR; a multiple of unit never exceeds
 * max_block, which the tables keep a multiple of unit). */
static ptrdiff_t fnn_balanced_block(ptrdiff_t len, ptrdiff_t max_block, ptrdiff_t unit)
{
    const ptrdiff_t nblocks = (len + max_block - 1) / max_block;
    ptrdiff_t block;
    if (nblocks <= 1)
        block = len;
    else
        block = (len + nblocks - 1) / nblocks;
    block = (block + unit - 1) / unit * unit;
    return block > 0 ? block : unit;
}

/* Whether a B read in place with rows row_bytes apart keeps its micro-panel in L1.
 * The L1 caches of the x86 cores in the tables (32 or 48 KiB, 8 or 12 ways) have 64
 * sets of 64-byte lines, so addresses 4 KiB apart share a set, and KC rows of a panel
 * row_bytes apart fall on 4096 / gcd(row_bytes, 4096) distinct offsets in those 4 KiB.
 * At 2 KiB and 4 KiB (n = 512 or 1024 floats) the panel's rows crowd into one or two
 * sets and are evicted between the tiles that reuse them; such a B is packed instead.
 * The 6 x 16 kernel alone on a Zen 3 (KC = 256, 40 tiles per panel, best of 4 runs),
 * GFLOP/s by row stride in floats: 32: 98, 64: 99, 128: 92, 256: 93, 496: 96, 512: 82,
 * 1024: 72 (and 500: 87, its rows straddling cache lines). */
static int fnn_gemm_direct_stride_ok(ptrdiff_t row_bytes)
{
    ptrdiff_t a = row_bytes < 0 ? -row_bytes : row_bytes, b = 4096;
    while (a != 0) { /* gcd(row_bytes, 4096) */
        const ptrdiff_t t = b % a;
        b = a;
        a = t;
    }
    return b <= 1024;
}

/* Rough cost, in cycles per unit of k, of computing an m x n product in this orientation:
 * the micro-kernel runs on whole MR x NR tiles (8 multiply-adds per cycle with AVX2;
 * the AVX-512 kernel does more, which this model does not weigh: it only compares the
 * two orientations of one product, and padding dominates that choice),
 * and packing costs about a cycle per value, for A always and for B unless the region
 * code reads B in place (row-major B, one MC block; see gemm_tmpl.h). */
static double fnn_gemm_cost(ptrdiff_t m, ptrdiff_t n, ptrdiff_t cs_b, const fnn_blocksizes *bs)
{
    const double padded = (double)((m + bs->mr - 1) / bs->mr * bs->mr) *
                          (double)((n + bs->nr - 1) / bs->nr * bs->nr);
    const int direct_b = cs_b == 1 && m <= bs->mc && n >= bs->nr;
    return padded / 8.0 + (double)m + (direct_b ? 0.0 : (double)n);
}

/* Whether to compute C^T = op(B)^T op(A)^T instead: same products, same summation
 * order, so the same bits, but the padding can be much smaller.  A 128 x 10 output layer
 * pads its 10 columns to 16 (37% wasted) but, transposed, only 10 rows to 12; a 500 x 10
 * weight gradient likewise.  Writing C^T stores C through its column stride, which costs
 * about 10% more per tile. */
static int fnn_gemm_prefer_swap(ptrdiff_t m, ptrdiff_t n, ptrdiff_t rs_a, ptrdiff_t cs_b,
                                const fnn_blocksizes *bs)
{
    return 1.1 * fnn_gemm_cost(n, m, rs_a, bs) < fnn_gemm_cost(m, n, cs_b, bs);
}

/* ------------------------------------------------------------------ threads */

typedef struct {
    ptrdiff_t m0, m1, n0, n1;
} fnn_region;

static int fnn_gemm_threads_for(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                                const fnn_blocksizes *bs, int nthreads)
{
#ifdef _OPENMP
    const double flops = 2.0 * (double)m * (double)n * (double)k;
    const double tiles = (double)((m + bs->mr - 1) / bs->mr) *
                         (double)((n + bs->nr - 1) / bs->nr);
    if (nthreads < 1 || flops < FNN_GEMM_PARALLEL_MIN_FLOPS)
        return 1;
    if ((double)nthreads > tiles)
        nthreads = (int)tiles;
    return nthreads;
#else
    (void)m; (void)n; (void)k; (void)bs; (void)nthreads;
    return 1;
#endif
}

#ifdef _OPENMP
/* The rectangle of C that thread t of nt computes.  Among the factorizations
 * nt = tm x tn, pick the one that packs the least in total (tn*m*k for A plus
 * tm*k*n for B) and still gives every thread at least one tile; rows go in whole MR
 * tiles, columns in whole NR tiles, spread as evenly as possible. */
static void fnn_gemm_partition(ptrdiff_t m, ptrdiff_t n, const fnn_blocksizes *bs, int t,
                               int nt, fnn_region *r)
{
    const ptrdiff_t mtiles = (m + bs->mr - 1) / bs->mr;
    const ptrdiff_t ntiles = (n + bs->nr - 1) / bs->nr;
    ptrdiff_t tm = 1, tn = nt, d, ti, tj;
    double best = -1.0;
    for (d = 1; d <= nt; ++d) {
        const ptrdiff_t dm = d, dn = nt / d;
        double cost;
        if (nt % d != 0 || dm > mtiles || dn > ntiles)
            continue;
        cost = (double)dn * (double)m + (double)dm * (double)n;
        if (best < 0.0 || cost < best) {
            best = cost;
            tm = dm;
            tn = dn;
        }
    }
    if (best < 0.0) { /* more threads than tiles along every split: give rows out */
        tm = nt;
        tn = 1;
    }
    ti = t / tn;
    tj = t % tn;
    r->m0 = ti * mtiles / tm * bs->mr;
    r->m1 = (ti + 1) * mtiles / tm * bs->mr;
    r->n0 = tj * ntiles / tn * bs->nr;
    r->n1 = (tj + 1) * ntiles / tn * bs->nr;
    if (r->m1 > m) r->m1 = m;
    if (r->n1 > n) r->n1 = n;
    if (r->m0 > m) r->m0 = m;
    if (r->n0 > n) r->n0 = n;
}
#endif

/* ------------------------------------------------------------------ transposing pack */

/* Packing an operand whose lines run along k (row-major x as A, or w.T as B) is a
 * transpose: dst[p*width + i] = LINE(i)[p], line i at src + i*s_x for a stored matrix
 * (fnn_pack_transposed_*), anywhere for a packer's virtual one (fnn_pack_lines_*, for
 * a convolution's patches: gemm.h).  Element by element that is a load and a store per
 * value, about a cycle each, which is a third of a 128 x 10 x 500 output layer.  With
 * SSE2 (every x86-64 CPU) 4 x 4 float / 2 x 2 double blocks are transposed in
 * registers, so each store writes 4 (2) values.  Other CPUs use the scalar loop.  Both
 * need width to be even (every kernel's MR and NR is).  One body for both sources: the
 * stored matrix keeps its address arithmetic (read through a pointer array, its loads
 * cost 25% more instructions: the pointers are reloaded at every block). */
#define FNN_PACK_T_TAIL(LINE)                                                           \
    for (; p < kc; ++p, dst += width)                                                   \
        for (q = 0; q < width; ++q)                                                     \
            dst[q] = LINE(q)[p];
#if defined(__SSE2__)
#include <emmintrin.h>
#define FNN_PACK_T_BODY_f32(LINE)                                                       \
    ptrdiff_t p;                                                                        \
    int i, q;                                                                           \
    for (p = 0; p + 4 <= kc; p += 4, dst += 4 * width) {                                \
        for (i = 0; i + 4 <= width; i += 4) {                                           \
            __m128 r0 = _mm_loadu_ps(LINE(i + 0) + p);                                  \
            __m128 r1 = _mm_loadu_ps(LINE(i + 1) + p);                                  \
            __m128 r2 = _mm_loadu_ps(LINE(i + 2) + p);                                  \
            __m128 r3 = _mm_loadu_ps(LINE(i + 3) + p);                                  \
            _MM_TRANSPOSE4_PS(r0, r1, r2, r3);                                          \
            _mm_storeu_ps(dst + 0 * width + i, r0);                                     \
            _mm_storeu_ps(dst + 1 * width + i, r1);                                     \
            _mm_storeu_ps(dst + 2 * width + i, r2);                                     \
            _mm_storeu_ps(dst + 3 * width + i, r3);                                     \
        }                                                                               \
        if (i < width) { /* a last pair of lines (width 6) */                           \
            const __m128 r0 = _mm_loadu_ps(LINE(i + 0) + p);                            \
            const __m128 r1 = _mm_loadu_ps(LINE(i + 1) + p);                            \
            const __m128 lo = _mm_unpacklo_ps(r0, r1); /* k = p, p+1 */                 \
            const __m128 hi = _mm_unpackhi_ps(r0, r1); /* k = p+2, p+3 */               \
            _mm_storel_pi((__m64 *)(dst + 0 * width + i), lo);                          \
            _mm_storeh_pi((__m64 *)(dst + 1 * width + i), lo);                          \
            _mm_storel_pi((__m64 *)(dst + 2 * width + i), hi);                          \
            _mm_storeh_pi((__m64 *)(dst + 3 * width + i), hi);                          \
        }                                                                               \
    }                                                                                   \
    FNN_PACK_T_TAIL(LINE)
#define FNN_PACK_T_BODY_f64(LINE)                                                       \
    ptrdiff_t p;                                                                        \
    int i, q;                                                                           \
    for (p = 0; p + 2 <= kc; p += 2, dst += 2 * width) {                                \
        for (i = 0; i < width; i += 2) {                                                \
            const __m128d r0 = _mm_loadu_pd(LINE(i + 0) + p);                           \
            const __m128d r1 = _mm_loadu_pd(LINE(i + 1) + p);                           \
            _mm_storeu_pd(dst + 0 * width + i, _mm_unpacklo_pd(r0, r1));                \
            _mm_storeu_pd(dst + 1 * width + i, _mm_unpackhi_pd(r0, r1));                \
        }                                                                               \
    }                                                                                   \
    FNN_PACK_T_TAIL(LINE)
#else
#define FNN_PACK_T_BODY_f32(LINE) ptrdiff_t p = 0; int q; FNN_PACK_T_TAIL(LINE)
#define FNN_PACK_T_BODY_f64(LINE) ptrdiff_t p = 0; int q; FNN_PACK_T_TAIL(LINE)
#endif

#define FNN_STRIDED_LINE(i) (src + (i) * s_x)
#define FNN_POINTED_LINE(i) (lines[i])
#define FNN_TRANSPOSING_PACKS(T, SFX)                                                   \
    void fnn_pack_transposed_##SFX(ptrdiff_t kc, const T *src, ptrdiff_t s_x,           \
                                   int width, T *restrict dst)                          \
    {                                                                                   \
        FNN_PACK_T_BODY_##SFX(FNN_STRIDED_LINE)                                         \
    }                                                                                   \
    void fnn_pack_lines_##SFX(ptrdiff_t kc, const T *const *lines, int width,           \
                              T *restrict dst)                                          \
    {                                                                                   \
        FNN_PACK_T_BODY_##SFX(FNN_POINTED_LINE)                                         \
    }
FNN_TRANSPOSING_PACKS(float, f32)
FNN_TRANSPOSING_PACKS(double, f64)
#undef FNN_TRANSPOSING_PACKS
#undef FNN_STRIDED_LINE
#undef FNN_POINTED_LINE
#undef FNN_PACK_T_BODY_f32
#undef FNN_PACK_T_BODY_f64
#undef FNN_PACK_T_TAIL

/* ------------------------------------------------------------------ one body, two dtypes */

#define FNN_TEMPLATE "gemm/gemm_tmpl.h"
#include "../fnn_instantiate.h"

/* ------------------------------------------------------------------ dtype-generic entries */

fnn_status fnn_gemm(fnn_dtype dtype, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k,
                    const void *a, ptrdiff_t rs_a, ptrdiff_t cs_a,
                    const void *b, ptrdiff_t rs_b, ptrdiff_t cs_b,
                    void *c, ptrdiff_t rs_c, ptrdiff_t cs_c, int accumulate,
                    const void *bias, int act, double alpha, int nthreads)
{
    FNN_DISPATCH(dtype, fnn_gemm, (m, n, k, a, rs_a, cs_a, b, rs_b, cs_b, c, rs_c, cs_c,
                                   accumulate, bias, act, alpha, nthreads));
}

fnn_status fnn_col_sum(fnn_dtype dtype, ptrdiff_t m, ptrdiff_t n, const void *x,
                       ptrdiff_t rs_x, ptrdiff_t cs_x, void *out, int nthreads)
{
    FNN_DISPATCH_VOID(dtype, fnn_col_sum, (m, n, x, rs_x, cs_x, out, nthreads));
}
