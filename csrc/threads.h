/* Thread-count helpers shared by every fastnn kernel.
 *
 * Builds without OpenMP compile these too: they then report one thread and OpenMP "off",
 * so the kernels run serially and the Python layer still has one place to ask.
 */
#ifndef FNN_THREADS_H
#define FNN_THREADS_H

/* 1 when this library was compiled with OpenMP, else 0. */
int fnn_openmp_enabled(void);

/* Threads an OpenMP parallel region would use now (1 without OpenMP). */
int fnn_get_max_threads(void);

/* Processors OpenMP may run on (affinity masks and cgroups applied); 1 without OpenMP. */
int fnn_num_procs(void);

/* There is deliberately no setter: kernels take their thread count as an argument and
 * use num_threads() clauses, so no call changes OpenMP's process-wide default. */

/* The compiler and OpenMP version this library was built with, for show_config(). */
const char *fnn_build_info(void);

#endif
