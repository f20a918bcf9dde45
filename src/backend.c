/* The backend registry: the one file that names CUDA.  The CPU backend is
 * always built; the CUDA backend needs nvcc, cuBLAS and NCCL at build time
 * (meson feature `cuda`, MP_HAVE_CUDA). */
#include <stdio.h>
#include <string.h>

#include "backend_internal.h"
#include "config.h"

bool mp_backend_open(const char *name, mp_backend *b, char *why, size_t why_len)
{
    memset(b, 0, sizeof *b);
    if (!strcmp(name, "cpu")) {
        b->ops = &mp_backend_cpu;
        return true;
    }
    if (!strcmp(name, "cuda")) {
#if MP_HAVE_CUDA
        return mp_backend_cuda_open(b, why, why_len);
#else
        snprintf(why, why_len, "this build has no GPU support: it was built without CUDA (nvcc, cuBLAS and NCCL "
                               "are needed at build time; see README, \"Building without CUDA\")");
        return false;
#endif
    }
    snprintf(why, why_len, "unknown backend '%s' (this build has: %s)", name, mp_backend_names());
    return false;
}

void mp_backend_close(mp_backend *b)
{
#if MP_HAVE_CUDA
    if (b->ops && !strcmp(b->ops->name, "cuda"))
        mp_backend_cuda_close(b);
#endif
    memset(b, 0, sizeof *b);
}

void mp_backend_timer_begin(mp_backend *b, double *t0)
{
    if (b->ops->timer_begin) {
        *t0 = b->ops->timer_begin(b) ? -1 : 0;
        return;
    }
    *t0 = b->ops->now_s(b);
}

double mp_backend_timer_end(mp_backend *b, double t0)
{
    if (b->ops->timer_end)
        return t0 < 0 ? -1 : b->ops->timer_end(b);
    if (b->ops->sync(b))
        return -1;
    return b->ops->now_s(b) - t0;
}

const char *mp_backend_names(void)
{
    return MP_HAVE_CUDA ? "cpu, cuda" : "cpu";
}
