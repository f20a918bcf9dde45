/* The simulator's draws (include/moeplan/simulate.h): its random number
 * generator, each sequence's length, and the routed copies' shares of a
 * token's distinct top-k experts (simulate's and run's one rule).
 * simulate.c plays the steps out with them (sim_internal.h).
 *
 * Sources:
 *  [V18] Blackman and Vigna, "Scrambled linear pseudorandom number
 *        generators" (xoshiro256**, splitmix64 seeding), public domain.
 */
#include "moeplan/simulate.h"

#include <math.h>
#include <stdlib.h>

#include "sim_internal.h"

/* ------------------------------------------------------------ random */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
void mp_sim_rng_seed(rng *g, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix(&seed);
    g->have_spare = false;
}
static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
static uint64_t rng_next(rng *g)
{
    uint64_t *s = g->s, r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}
/* Uniform in [0, 1) with 53 bits. */
static double rng_unit(rng *g) { return (double)(rng_next(g) >> 11) * 0x1.0p-53; }
long mp_sim_rng_int(rng *g, long lo, long hi) /* inclusive */
{
    return lo + (long)(rng_unit(g) * (double)(hi - lo + 1));
}
/* Box-Muller: two normal draws per two uniforms, the second kept for the
 * next call. */
static double rng_normal(rng *g)
{
    if (g->have_spare) {
        g->have_spare = false;
        return g->spare;
    }
    double u = rng_unit(g), v = rng_unit(g), r = sqrt(-2.0 * log(1.0 - u));
    g->spare = r * sin(2.0 * M_PI * v);
    g->have_spare = true;
    return r * cos(2.0 * M_PI * v);
}
/* Binomial(n, p): by inversion of the CDF when n p (1-p) is small, else the
 * normal approximation rounded and clamped (its error in a count of mean
 * 25 or more is below the sampling noise it stands for). */
double mp_sim_rng_binomial(rng *g, double n, double p)
{
    if (n <= 0 || p <= 0)
        return 0;
    if (p >= 1)
        return n;
    if (p > 0.5) /* (1-p)^n would underflow: count the failures instead */
        return n - mp_sim_rng_binomial(g, n, 1 - p);
    double var = n * p * (1 - p);
    if (var > 25) {
        double x = floor(n * p + sqrt(var) * rng_normal(g) + 0.5);
        return x < 0 ? 0 : x > n ? n : x;
    }
    /* Inversion: P(0) = (1-p)^n, P(k+1) = P(k) (n-k)/(k+1) p/(1-p). */
    double u = rng_unit(g), q = p / (1 - p), pk = pow(1 - p, n), cdf = pk, k = 0;
    while (u > cdf && k < n) {
        pk *= (n - k) / (k + 1) * q;
        k += 1;
        cdf += pk;
        if (pk < 1e-300 && k > n * p)
            break;
    }
    return k;
}

/* ------------------------------------------------------------ routing */

double mp_sim_zipf_weight(int rank, double s) { return pow(1.0 + rank, -s); }

/* A token's k experts are distinct: drawn one after another in proportion
 * to the preferences p (summing to 1), each from those not yet drawn.  The
 * copies routed to expert e are then a share pi_e / k of all copies, pi_e
 * the probability that e is among a token's k (at most 1: no expert takes
 * more than 1/k of the copies).  Drawing so is an exponential race (each
 * expert's time X_e ~ Exp(p_e), the k first win), so
 *     pi_i = integral over x of p_i exp(-p_i x) P(fewer than k others < x),
 * the others' count a Poisson binomial of q_j = 1 - exp(-p_j x), taken for
 * every i at once from prefix and suffix tables of the count (k entries
 * each), integrated by the trapezoid rule in log x (1000 points over
 * 10^-8 / max p to 50 / min p; an integrand of this kind decays doubly
 * exponentially there, so the rule converges fast).  Checked in
 * tests/simulate.sh against the closed form for k = 2, pi_i = p_i + sum
 * over j != i of p_j p_i / (1 - p_j).  Experts of preference 0 are floored
 * at 1e-12: a token whose preferred experts are exhausted picks among them
 * alike, as a router does among equal scores.  k = 1: pi = p exactly.
 * In place: p becomes the copies' shares (summing to 1).  false: out of
 * memory. */
bool mp_sim_topk_shares(double *p, int E, int k)
{
    if (k <= 1)
        return true;
    if (k >= E) {
        for (int e = 0; e < E; e++)
            p[e] = 1.0 / E;
        return true;
    }
    size_t K = (size_t)k;
    double *q = malloc((size_t)E * sizeof *q), *pi = calloc((size_t)E, sizeof *pi);
    double *pre = malloc((size_t)(E + 1) * K * sizeof *pre), *suf = malloc((size_t)(E + 1) * K * sizeof *suf);
    if (!q || !pi || !pre || !suf) {
        free(q), free(pi), free(pre), free(suf);
        return false;
    }
    double pmin = 1, pmax = 0;
    for (int e = 0; e < E; e++) {
        double r = fmax(p[e], 1e-12);
        pmin = fmin(pmin, r);
        pmax = fmax(pmax, r);
    }
    double y0 = log(1e-8 / pmax), y1 = log(50 / pmin);
    const int n = 1000;
    double h = (y1 - y0) / (n - 1);
    for (int s = 0; s < n; s++) {
        double x = exp(y0 + h * s), wt = (s == 0 || s == n - 1 ? 0.5 : 1.0) * h * x;
        for (int e = 0; e < E; e++)
            q[e] = -expm1(-fmax(p[e], 1e-12) * x);
        /* pre[e][a]: P(a of experts 0..e-1 are before x), a < k; suf[e][b]
         * the same of experts e..E-1. */
        for (size_t a = 0; a < K; a++)
            pre[a] = suf[(size_t)E * K + a] = a == 0;
        for (int e = 0; e < E; e++)
            for (size_t a = 0; a < K; a++)
                pre[(e + 1) * K + a] = pre[e * K + a] * (1 - q[e]) + (a ? pre[e * K + a - 1] * q[e] : 0);
        for (int e = E - 1; e >= 0; e--)
            for (size_t a = 0; a < K; a++)
                suf[e * K + a] = suf[(e + 1) * K + a] * (1 - q[e]) + (a ? suf[(e + 1) * K + a - 1] * q[e] : 0);
        for (int i = 0; i < E; i++) {
            /* P(fewer than k of the others before x) */
            double f = 0, cum = 0;
            const double *sb = suf + (size_t)(i + 1) * K, *pa = pre + (size_t)i * K;
            for (size_t b = 0; b < K; b++) {
                cum += sb[b]; /* P(at most b of experts i+1.. before x) */
                f += pa[K - 1 - b] * cum;
            }
            double r = fmax(p[i], 1e-12);
            pi[i] += wt * r * exp(-r * x) * f;
        }
    }
    double sum = 0;
    for (int e = 0; e < E; e++)
        sum += pi[e];
    for (int e = 0; e < E; e++)
        p[e] = pi[e] / sum; /* sum is k to the rule's precision */
    free(q), free(pi), free(pre), free(suf);
    return true;
}

/* ------------------------------------------------------------ sequence lengths */

long mp_sim_draw_length(rng *g, const mp_sim_options *o, const mp_workload *w, double wsum)
{
    switch (o->lengths) {
    case MP_LEN_FIXED: return w->seq_max;
    case MP_LEN_HISTOGRAM: {
        double u = rng_unit(g) * wsum;
        for (int i = 0; i < o->n_bins; i++) {
            if (u < o->bins[i].weight || i == o->n_bins - 1)
                return mp_sim_rng_int(g, o->bins[i].lo, o->bins[i].hi);
            u -= o->bins[i].weight;
        }
        return w->seq_max;
    }
    default: return mp_sim_rng_int(g, w->seq_min, w->seq_max);
    }
}
