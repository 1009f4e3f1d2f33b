/* Instantiates a kernel template header for float32 and float64.
 *
 * Usage, in a .c file:
 *     #define FNN_TEMPLATE "losses_tmpl.h"
 *     #include "fnn_instantiate.h"
 *
 * The template sees FNN_T (the element type) and FNN_F(name) (name with the _f32 or _f64
 * suffix).  Both dtypes come from one body, so they cannot drift apart.  The .c file then
 * defines each kernel's dtype-generic entry with fnn_dispatch.h.
 * No include guard: every kernel file includes it once for its own template.
 */
#ifndef FNN_TEMPLATE
#error "define FNN_TEMPLATE (the template header to instantiate) first"
#endif

#define FNN_T float
#define FNN_F(name) name##_f32
#include FNN_TEMPLATE
#undef FNN_T
#undef FNN_F

#define FNN_T double
#define FNN_F(name) name##_f64
#include FNN_TEMPLATE
#undef FNN_T
#undef FNN_F

#undef FNN_TEMPLATE
