/* moeplan: the plan chart, one standalone SVG 1.1 document.
 *
 * Left: the Pareto front, GPUs (log2) against tokens/s (log10), points
 * coloured by memory per GPU as a fraction of capacity (viridis), a step
 * line through the best tokens/s at each GPU count, rank 1 ringed.
 * Right: stacked bars of the memory breakdown of the best ten layouts
 * against a dashed capacity line, in GB (10^9 bytes).
 *
 * Only <svg> <g> <rect> <line> <polyline> <circle> <text> <title>, no
 * styles, scripts or external resources.  Every number is printed with a
 * fixed precision and nothing depends on time or addresses, so the same
 * result gives the same bytes.  Text is escaped and made valid UTF-8.
 */
#include "moeplan/svg.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "moeplan/error.h"
#include "moeplan/report.h"

#define SVG_W 1100
#define SVG_H 560

/* Left panel: the plot area of the scatter. */
#define LX0 74.0
#define LX1 484.0
#define LY0 96.0
#define LY1 452.0
/* Right panel: the bar area. */
#define RX0 624.0
#define RX1 1076.0
#define RY0 100.0
#define RY1 452.0
#define ROWS 10

#define C_TEXT "#222222"
#define C_MUTED "#5a5a5a"
#define C_GRID "#e4e4e4"
#define C_AXIS "#444444"
#define C_RANK1 "#d55e00" /* Okabe-Ito vermillion */
#define C_STEP "#333333"
#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"

/* Okabe-Ito colours for the memory parts, in stacking order. */
static const char *const part_name[5] = {"weights", "gradients", "optimizer", "activations", "other"};
static const char *const part_colour[5] = {"#0072b2", "#56b4e9", "#009e73", "#e69f00", "#999999"};

/* ---- text ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p that XML 1.0 allows, or 0. */
static size_t utf8_ok(const unsigned char *p)
{
    unsigned c = p[0];
    if (c < 0x80)
        return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
    if (c >= 0xc2 && c <= 0xdf)
        return (p[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] >= 0xa0)) /* overlong, surrogate */
            return 0;
        if (c == 0xef && p[1] == 0xbf && (p[2] == 0xbe || p[2] == 0xbf)) /* U+FFFE, U+FFFF */
            return 0;
        return 3;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
            return 0;
        if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] >= 0x90))
            return 0;
        return 4;
    }
    return 0;
}

/* Write s as XML character data: & < > " ' escaped, invalid bytes and
 * control characters replaced by U+FFFD.  max_chars > 0 cuts the text
 * there with an ellipsis. */
static void put_esc(FILE *f, const char *s, size_t max_chars)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t chars = 0;
    while (*p) {
        if (max_chars && chars == max_chars) {
            fputs("&#8230;", f);
            return;
        }
        size_t n = utf8_ok(p);
        chars++;
        if (!n) {
            fputs("&#65533;", f);
            p++;
            continue;
        }
        switch (*p) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fwrite(p, 1, n, f);
        }
        p += n;
    }
}

/* <text> at (x, y) with extra attributes, the formatted string escaped. */
static void text(FILE *f, double x, double y, const char *attrs, const char *fmt, ...) MP_PRINTF(5, 6);
static void text(FILE *f, double x, double y, const char *attrs, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\"%s%s>", x, y, *attrs ? " " : "", attrs);
    put_esc(f, buf, 0);
    fputs("</text>\n", f);
}

/* Text over a white halo, so that lines under it do not cross it. */
static void halo_text(FILE *f, double x, double y, const char *attrs, const char *fill, const char *s)
{
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" %s fill=\"#ffffff\" stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\">",
            x, y, attrs);
    put_esc(f, s, 0);
    fprintf(f, "</text>\n<text x=\"%.1f\" y=\"%.1f\" %s fill=\"%s\">", x, y, attrs, fill);
    put_esc(f, s, 0);
    fputs("</text>\n", f);
}

/* Rough width of a string in DejaVu Sans, for laying out legends. */
static double text_w(const char *s, double size) { return (double)strlen(s) * size * 0.6; }

/* ---- numbers ------------------------------------------------------------- */

static double pos(double v) { return isfinite(v) && v > 0 ? v : 0.0; }

/* A pixel coordinate, kept finite and within reason whatever the data. */
static double px(double v)
{
    if (!isfinite(v))
        return 0.0;
    return v < -1e5 ? -1e5 : v > 1e5 ? 1e5 : v;
}

/* SI suffixes: 12.4M, 300k, 1.5G; sig significant digits. */
static void fmt_si(double v, int sig, char *buf, size_t len)
{
    static const char *const suf[] = {"", "k", "M", "G", "T", "P", "E"};
    if (!isfinite(v)) {
        snprintf(buf, len, "%s", isnan(v) ? "n/a" : v > 0 ? "inf" : "-inf");
        return;
    }
    double a = fabs(v);
    if (a == 0) {
        snprintf(buf, len, "0");
        return;
    }
    if (a < 1e-3) {
        snprintf(buf, len, "%.*g", sig, v);
        return;
    }
    double thr = 1000.0 * (1.0 - 0.5 * pow(10.0, -sig));
    int k = 0;
    while (k < 6 && a >= thr) {
        a /= 1000.0;
        v /= 1000.0;
        k++;
    }
    if (a >= thr)
        snprintf(buf, len, "%.*g", sig, v * 1e18);
    else
        snprintf(buf, len, "%.*g%s", sig, v, suf[k]);
}

/* Bytes as GB (10^9), two decimals while that stays short. */
static void fmt_gb(double bytes, char *buf, size_t len)
{
    double g = bytes / 1e9;
    if (!isfinite(g))
        snprintf(buf, len, "n/a");
    else if (fabs(g) < 1e6)
        snprintf(buf, len, "%.2f GB", g);
    else
        snprintf(buf, len, "%.3g GB", g);
}

static void fmt_time(double s, char *buf, size_t len)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, len, "n/a");
    else if (s < 1e-3)
        snprintf(buf, len, "%.1f us", s * 1e6);
    else if (s < 1)
        snprintf(buf, len, "%.1f ms", s * 1e3);
    else if (s < 1e4)
        snprintf(buf, len, "%.3f s", s);
    else
        snprintf(buf, len, "%.3g s", s);
}

/* 1234567 -> "1,234,567". */
static void fmt_count(size_t n, char *buf, size_t len)
{
    char d[32];
    int k = snprintf(d, sizeof d, "%zu", n);
    size_t o = 0;
    for (int i = 0; i < k && o + 2 < len; i++) {
        if (i && (k - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = d[i];
    }
    buf[o] = 0;
}

/* Percentage of capacity, or "" when there is none. */
static void fmt_frac(double used, double cap, char *buf, size_t len)
{
    if (cap > 0 && isfinite(cap) && isfinite(used) && used / cap < 1e6)
        snprintf(buf, len, " (%.1f%% of capacity)", 100.0 * used / cap);
    else
        buf[0] = 0;
}

/* ---- colour -------------------------------------------------------------- */

/* Viridis (perceptually uniform, colour-blind safe), t in [0, 1]. */
static void viridis(double t, char out[8])
{
    static const unsigned char v[9][3] = {{68, 1, 84},    {71, 44, 122},  {59, 81, 139},
                                         {44, 113, 142}, {33, 144, 141}, {39, 173, 129},
                                         {92, 200, 99},  {170, 220, 50}, {253, 231, 37}};
    if (!(t > 0))
        t = 0;
    if (t > 1)
        t = 1;
    double s = t * 8;
    int i = (int)s;
    if (i > 7)
        i = 7;
    double u = s - i;
    int c[3];
    for (int k = 0; k < 3; k++)
        c[k] = (int)lround(v[i][k] + u * (v[i + 1][k] - v[i][k]));
    snprintf(out, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

/* ---- scales -------------------------------------------------------------- */

typedef struct {
    double d0, d1, p0, p1; /* domain (already log) to pixels; d1 > d0 */
} scale;

static double map(const scale *s, double v) { return px(s->p0 + (v - s->d0) / (s->d1 - s->d0) * (s->p1 - s->p0)); }

/* Domain [lo, hi] padded: a band of +-half around a single value. */
static void pad_domain(double lo, double hi, double frac, double min_pad, double half, double *d0, double *d1)
{
    double span = hi - lo;
    if (!(span > 1e-9 * (fabs(lo) + 1))) {
        *d0 = lo - half;
        *d1 = hi + half;
        return;
    }
    double p = span * frac;
    if (p < min_pad)
        p = min_pad;
    *d0 = lo - p;
    *d1 = hi + p;
}

static bool plottable(const mp_candidate *c)
{
    return c->lay.gpus >= 1 && isfinite(c->tokens_per_s) && c->tokens_per_s > 0;
}

/* ---- left panel: Pareto front -------------------------------------------- */

#define DOT_R 4.0

typedef struct {
    size_t idx; /* into r->pareto */
    int gpus;
    double tokens, mem;
    double x, y, dx; /* centre on the axes and sideways offset, pixels */
} dot;

static int dot_cmp(const void *a, const void *b)
{
    const dot *p = a, *q = b;
    if (p->gpus != q->gpus)
        return p->gpus < q->gpus ? -1 : 1;
    if (p->tokens != q->tokens)
        return p->tokens > q->tokens ? -1 : 1;
    if (p->mem != q->mem)
        return p->mem < q->mem ? -1 : 1;
    return p->idx < q->idx ? -1 : p->idx > q->idx;
}

/* Beeswarm: place each dot of a column at the offset nearest the centre
 * (1 px steps, right first) where it overlaps no dot already placed, within
 * half the gap to the neighbouring columns; failing that, where it
 * overlaps least.  dots are sorted by dot_cmp, so y grows within a column. */
static void swarm(dot *d, size_t n)
{
    const double need = 2 * DOT_R + 0.5;
    for (size_t s = 0, e; s < n; s = e) {
        for (e = s + 1; e < n && d[e].gpus == d[s].gpus; e++)
            ;
        double left = s ? (d[s].x - d[s - 1].x) / 2 - DOT_R : d[s].x - LX0 - DOT_R - 1;
        double right = e < n ? (d[e].x - d[s].x) / 2 - DOT_R : LX1 - d[s].x - DOT_R - 1;
        left = fmax(0, fmin(left, 24));
        right = fmax(0, fmin(right, 24));
        for (size_t i = s; i < e; i++) {
            double best_dx = 0, best_gap = -1;
            for (int k = 0; k <= 2 * 24; k++) {
                double dx = (k + 1) / 2 * (k % 2 ? 1.0 : -1.0);
                if (dx > right || -dx > left)
                    continue;
                double gap = INFINITY;
                int checked = 0;
                for (size_t j = i; j-- > s && checked < 64; checked++) {
                    double dy = d[i].y - d[j].y;
                    if (dy >= need)
                        break;
                    double ddx = dx - d[j].dx;
                    gap = fmin(gap, sqrt(ddx * ddx + dy * dy));
                }
                if (gap >= need) {
                    best_dx = dx;
                    break;
                }
                if (gap > best_gap)
                    best_gap = gap, best_dx = dx;
            }
            d[i].dx = best_dx;
        }
    }
}

static void tooltip(FILE *f, const mp_candidate *c, bool experts, double cap, const char *prefix)
{
    char lay[256], tok[32], st[32], mem[32], frac[48];
    mp_report_layout_line(&c->lay, experts, lay, sizeof lay);
    fmt_si(c->tokens_per_s, 4, tok, sizeof tok);
    fmt_time(c->step_s, st, sizeof st);
    fmt_gb(c->mem_total_bytes, mem, sizeof mem);
    fmt_frac(c->mem_total_bytes, cap, frac, sizeof frac);
    char buf[512];
    snprintf(buf, sizeof buf, "%s%s\n%d GPU%s, %s tokens/s, step %s, %s per GPU%s", prefix, lay, c->lay.gpus,
             mp_plural(c->lay.gpus), tok, st, mem, frac);
    fputs("<title>", f);
    put_esc(f, buf, 0);
    fputs("</title>", f);
}

static void frame(FILE *f, double x0, double y0, double x1, double y1)
{
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%s\" stroke-width=\"1\"/>\n",
            x0, y0, x1 - x0, y1 - y0, C_AXIS);
}

static void note(FILE *f, double cx, double cy, const char *msg)
{
    text(f, cx, cy, "text-anchor=\"middle\" font-size=\"14\" font-style=\"italic\" fill=\"" C_MUTED "\"", "%s", msg);
}

static void colour_legend(FILE *f, bool rel_cap)
{
    const double x = LX1 + 20, y0 = LY0 + 40, h = 200, w = 12;
    text(f, x - 4, LY0 + 12, "font-size=\"11\" fill=\"" C_TEXT "\"", "memory/GPU");
    text(f, x - 4, LY0 + 26, "font-size=\"11\" fill=\"" C_MUTED "\"", rel_cap ? "%% of capacity" : "%% of the largest");
    fputs("<g shape-rendering=\"crispEdges\">\n", f);
    const int strips = 40;
    for (int i = 0; i < strips; i++) {
        char col[8];
        viridis((i + 0.5) / strips, col);
        double sy = y0 + h - (i + 1) * h / strips;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.2f\" width=\"%.1f\" height=\"%.2f\" fill=\"%s\"/>\n", x, sy, w,
                h / strips + 0.3, col);
    }
    fputs("</g>\n", f);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"%s\" stroke-width=\"0.8\"/>\n",
            x, y0, w, h, C_AXIS);
    for (int k = 0; k <= 4; k++) {
        double y = y0 + h - k * h / 4;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x + w, y, x + w + 3, y,
                C_AXIS);
        text(f, x + w + 6, y + 4, "font-size=\"11\" fill=\"" C_TEXT "\"", "%d%%", 25 * k);
    }
}

static void pareto_panel(FILE *f, const mp_search_result *r, double cap)
{
    size_t n = r->pareto ? r->n_pareto : 0;
    const mp_candidate *best = r->best && r->n_best && plottable(&r->best[0]) ? &r->best[0] : NULL;
    text(f, LX0, 80, "font-size=\"13\" font-weight=\"bold\" fill=\"" C_TEXT "\"",
         "Pareto front: tokens/s against GPUs");
    char rot[160];
    snprintf(rot, sizeof rot, "text-anchor=\"middle\" font-size=\"12\" fill=\"%s\" transform=\"rotate(-90 %.1f %.1f)\"",
             C_TEXT, 20.0, (LY0 + LY1) / 2);
    text(f, 20, (LY0 + LY1) / 2, rot, "tokens / s (log scale)");
    text(f, (LX0 + LX1) / 2, LY1 + 38, "text-anchor=\"middle\" font-size=\"12\" fill=\"" C_TEXT "\"",
         "GPUs (log2 scale)");

    double g0 = INFINITY, g1 = -INFINITY, t0 = INFINITY, t1 = -INFINITY, mem_max = 0;
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) {
        const mp_candidate *c = &r->pareto[i];
        if (!plottable(c))
            continue;
        valid++;
        g0 = fmin(g0, c->lay.gpus), g1 = fmax(g1, c->lay.gpus);
        t0 = fmin(t0, c->tokens_per_s), t1 = fmax(t1, c->tokens_per_s);
        mem_max = fmax(mem_max, pos(c->mem_total_bytes));
    }
    if (best) {
        g0 = fmin(g0, best->lay.gpus), g1 = fmax(g1, best->lay.gpus);
        t0 = fmin(t0, best->tokens_per_s), t1 = fmax(t1, best->tokens_per_s);
    }
    bool rel_cap = cap > 0 && isfinite(cap);
    if (!(g0 <= g1)) {
        frame(f, LX0, LY0, LX1, LY1);
        note(f, (LX0 + LX1) / 2, (LY0 + LY1) / 2, n ? "no layout with a positive throughput" : "no layout fits");
        colour_legend(f, rel_cap);
        return;
    }
    double den = rel_cap ? cap : mem_max > 0 ? mem_max : 1.0;

    scale sx = {0, 1, LX0, LX1}, sy = {0, 1, LY1, LY0};
    pad_domain(log2(g0), log2(g1), 0.04, 0.25, 0.6, &sx.d0, &sx.d1);
    pad_domain(log10(t0), log10(t1), 0.06, 0.05, 0.3, &sy.d0, &sy.d1);

    /* y grid: under a decade, round linear steps; above, 1-2-5, 1-3 or
     * whole decades, thinned when there are many. */
    fputs("<g font-size=\"11\" fill=\"" C_TEXT "\" text-anchor=\"end\">\n", f);
    double span = sy.d1 - sy.d0;
    double ticks[64];
    int nt = 0;
    double v0 = pow(10.0, sy.d0), v1 = pow(10.0, sy.d1), raw = (v1 - v0) / 5;
    double mag = pow(10.0, floor(log10(raw))), q = raw / mag;
    double step = mag * (q <= 1 ? 1 : q <= 2 ? 2 : q <= 2.5 ? 2.5 : q <= 5 ? 5 : 10);
    if (span < 0.8 && isfinite(v1) && isfinite(step) && step > 0) {
        for (double k = ceil(v0 / step); nt < 64 && k * step <= v1; k++)
            ticks[nt++] = k * step;
    } else {
        static const double m_mid[] = {1, 2, 5}, m_coarse[] = {1, 3}, m_dec[] = {1};
        const double *ms = span <= 2.5 ? m_mid : span <= 5 ? m_coarse : m_dec;
        int nm = span <= 2.5 ? 3 : span <= 5 ? 2 : 1;
        double dstep = span > 12 ? ceil(span / 10) : 1;
        for (double k = floor(sy.d0 / dstep) * dstep; nt < 64 && k <= sy.d1; k += dstep)
            for (int j = 0; j < nm && nt < 64; j++) {
                double v = k + log10(ms[j]);
                if (v >= sy.d0 && v <= sy.d1 && isfinite(pow(10.0, k) * ms[j]))
                    ticks[nt++] = pow(10.0, k) * ms[j];
            }
    }
    for (int i = 0; i < nt; i++) {
        double y = map(&sy, log10(ticks[i]));
        char lab[32];
        fmt_si(ticks[i], 4, lab, sizeof lab);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", LX0, y, LX1, y, C_GRID);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", LX0 - 4, y, LX0, y, C_AXIS);
        text(f, LX0 - 7, y + 4, "", "%s", lab);
    }
    fputs("</g>\n", f);

    /* x grid: powers of two in range (thinned when there are many); the
     * ends of the data when no power of two falls inside. */
    fputs("<g font-size=\"11\" fill=\"" C_TEXT "\" text-anchor=\"middle\">\n", f);
    double p0 = fmax(ceil(sx.d0), 0), p1 = floor(sx.d1);
    double pstep = p1 - p0 + 1 > 12 ? ceil((p1 - p0 + 1) / 12) : 1;
    int xticks = 0;
    for (double p = p0; p <= p1; p += pstep, xticks++) {
        double x = map(&sx, p);
        char lab[32];
        double v = pow(2.0, p);
        if (v < 1e5)
            snprintf(lab, sizeof lab, "%.0f", v);
        else
            fmt_si(v, 3, lab, sizeof lab);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, LY0, x, LY1, C_GRID);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, LY1, x, LY1 + 5,
                C_AXIS);
        text(f, x, LY1 + 18, "", "%s", lab);
    }
    if (!xticks) {
        double ends[2] = {g0, g1};
        for (int e = 0; e < (g1 > g0 ? 2 : 1); e++) {
            double x = map(&sx, log2(ends[e]));
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, LY1, x, LY1 + 5,
                    C_AXIS);
            text(f, x, LY1 + 18, "", "%.0f", ends[e]);
        }
    }
    fputs("</g>\n", f);

    /* Points sorted by GPU count, then tokens/s (descending).  Points at
     * one GPU count are spread sideways, beeswarm fashion, so that none
     * hides another; colour carries memory, the tooltip the values. */
    dot *dots = valid ? malloc(valid * sizeof *dots) : NULL;
    size_t nd = 0;
    if (dots) {
        for (size_t i = 0; i < n; i++) {
            const mp_candidate *c = &r->pareto[i];
            if (plottable(c))
                dots[nd++] = (dot){i, c->lay.gpus, c->tokens_per_s, pos(c->mem_total_bytes),
                                   map(&sx, log2(c->lay.gpus)), map(&sy, log10(c->tokens_per_s)), 0};
        }
        qsort(dots, nd, sizeof *dots, dot_cmp);
        swarm(dots, nd);
    }
    size_t ncol = 0;
    for (size_t i = 0; i < nd; i++)
        ncol += i == 0 || dots[i].gpus != dots[i - 1].gpus;
    for (size_t i = 0; ncol <= 64 && i < nd; i++)
        if ((i == 0 || dots[i].gpus != dots[i - 1].gpus) && (dots[i].gpus & (dots[i].gpus - 1)))
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", dots[i].x, LY1,
                    dots[i].x, LY1 + 3, C_AXIS);
    frame(f, LX0, LY0, LX1, LY1);
    if (ncol >= 2) {
        fputs("<polyline fill=\"none\" stroke=\"" C_STEP "\" stroke-width=\"1.4\" stroke-linejoin=\"miter\" points=\"", f);
        double prev_y = 0;
        bool first = true;
        for (size_t i = 0; i < nd; i++) {
            if (i && dots[i].gpus == dots[i - 1].gpus)
                continue;
            if (!first)
                fprintf(f, " %.1f,%.1f ", dots[i].x, prev_y);
            fprintf(f, "%.1f,%.1f", dots[i].x, dots[i].y);
            prev_y = dots[i].y;
            first = false;
        }
        fputs("\"><title>best tokens/s at each GPU count on the front</title></polyline>\n", f);
    }

    fputs("<g stroke=\"#303030\" stroke-width=\"0.6\" fill-opacity=\"0.92\">\n", f);
    /* Drawn last placed first, so that where a crowded column must overlap,
     * its fastest layouts stay on top. */
    for (size_t k = dots ? nd : n; k-- > 0;) {
        size_t i = k;
        const mp_candidate *c = &r->pareto[dots ? dots[i].idx : i];
        if (!plottable(c))
            continue;
        char col[8];
        viridis(pos(c->mem_total_bytes) / den, col);
        double x = dots ? px(dots[i].x + dots[i].dx) : map(&sx, log2(c->lay.gpus));
        double y = dots ? dots[i].y : map(&sy, log10(c->tokens_per_s));
        fprintf(f, "<circle class=\"pt\" cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\">", x, y, DOT_R, col);
        tooltip(f, c, r->experts, cap, "");
        fputs("</circle>\n", f);
    }
    fputs("</g>\n", f);
    free(dots);
    if (valid < n)
        text(f, LX0 + 6, LY0 + 14, "font-size=\"11\" fill=\"" C_MUTED "\"", "%zu layout%s with no throughput not drawn",
             n - valid, n - valid == 1 ? "" : "s");

    if (best) {
        double cx = map(&sx, log2(best->lay.gpus)), cy = map(&sy, log10(best->tokens_per_s));
        fprintf(f, "<circle class=\"rank1\" cx=\"%.1f\" cy=\"%.1f\" r=\"9\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\">",
                cx, cy, C_RANK1);
        tooltip(f, best, r->experts, cap, "rank 1: ");
        fputs("</circle>\n", f);
        double ly = cy - 13 < 86 ? cy + 23 : cy - 13;
        halo_text(f, cx, ly, "text-anchor=\"middle\" font-size=\"12\" font-weight=\"bold\"", C_RANK1, "#1");
    }
    colour_legend(f, rel_cap);
}

/* Key under the left panel. */
static void pareto_key(FILE *f, const mp_search_result *r)
{
    double y = 512, x = LX0;
    char col[8];
    viridis(0.45, col);
    fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\" fill=\"%s\" stroke=\"#303030\" stroke-width=\"0.6\"/>\n", x + 5,
            y - 4, DOT_R, col);
    const char *a = "a layout on the front";
    text(f, x + 14, y, "font-size=\"11\" fill=\"" C_TEXT "\"", "%s", a);
    x += 14 + text_w(a, 11) + 16;
    fprintf(f, "<polyline fill=\"none\" stroke=\"" C_STEP "\" stroke-width=\"1.4\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>\n",
            x, y - 1, x + 9, y - 1, x + 9, y - 8, x + 18, y - 8);
    text(f, x + 24, y, "font-size=\"11\" fill=\"" C_TEXT "\"", "best tokens/s at each GPU count");
    if (r->best && r->n_best && plottable(&r->best[0])) {
        const mp_candidate *c = &r->best[0];
        char tok[32], mem[32];
        fmt_si(c->tokens_per_s, 3, tok, sizeof tok);
        fmt_gb(c->mem_total_bytes, mem, sizeof mem);
        y += 18;
        x = LX0;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"6\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"/>\n", x + 5,
                y - 4, C_RANK1);
        text(f, x + 14, y, "font-size=\"11\" fill=\"" C_TEXT "\"", "#1, the best layout: %d GPU%s, %s tokens/s, %s per GPU",
             c->lay.gpus, mp_plural(c->lay.gpus), tok, mem);
    }
}

/* ---- right panel: memory of the best layouts ----------------------------- */

static void short_layout(const mp_layout *l, bool experts, char *buf, size_t len)
{
    char extra[64] = "";
    size_t o = 0;
    if (l->vpp > 1)
        o += (size_t)snprintf(extra + o, sizeof extra - o, " vpp%d", l->vpp);
    if (l->recompute != MP_RECOMPUTE_NONE && o < sizeof extra)
        snprintf(extra + o, sizeof extra - o, " rc:%s", l->recompute == MP_RECOMPUTE_FULL ? "full" : "sel");
    char ex[64] = "";
    if (experts) /* a dense model has no expert layout */
        snprintf(ex, sizeof ex, " | etp%d ep%d edp%d", l->etp, l->ep, l->edp);
    snprintf(buf, len, "%d GPU%s  tp%d cp%d dp%d pp%d%s | mb%d%s", l->gpus, mp_plural(l->gpus), l->tp, l->cp, l->dp,
             l->pp, ex, l->micro_batch, extra);
}

/* Tooltip of a bar row: rank, full layout, total. */
static void row_title(FILE *f, const mp_candidate *c, bool experts, size_t i, double total, double cap)
{
    char lay[256], tg[32], frac[48], head[512];
    mp_report_layout_line(&c->lay, experts, lay, sizeof lay);
    fmt_gb(total, tg, sizeof tg);
    fmt_frac(total, cap, frac, sizeof frac);
    snprintf(head, sizeof head, "rank %zu: %d GPU%s, %s\n%s per GPU%s", i + 1, c->lay.gpus, mp_plural(c->lay.gpus), lay,
             tg, frac);
    fputs("<title>", f);
    put_esc(f, head, 0);
    fputs("</title>\n", f);
}

static void memory_panel(FILE *f, const mp_search_result *r, double cap)
{
    size_t n = r->best ? (r->n_best < ROWS ? r->n_best : ROWS) : 0;
    bool have_cap = cap > 0 && isfinite(cap);
    if (n)
        text(f, RX0, 80, "font-size=\"13\" font-weight=\"bold\" fill=\"" C_TEXT "\"",
             "Memory per GPU of the best %zu layout%s", n, n == 1 ? "" : "s");
    else
        text(f, RX0, 80, "font-size=\"13\" font-weight=\"bold\" fill=\"" C_TEXT "\"", "Memory per GPU of the best layouts");

    double parts[ROWS][5], tot[ROWS], mx = have_cap ? cap : 0;
    for (size_t i = 0; i < n; i++) {
        const mp_candidate *c = &r->best[i];
        double v[5] = {c->mem_weights_bytes, c->mem_grads_bytes, c->mem_optim_bytes, c->mem_act_bytes, c->mem_other_bytes};
        tot[i] = 0;
        for (int k = 0; k < 5; k++)
            tot[i] += parts[i][k] = pos(v[k]);
        if (!isfinite(tot[i]))
            tot[i] = 0;
        mx = fmax(mx, tot[i]);
    }
    if (!(mx > 0) || !isfinite(mx) || mx > 1e300)
        mx = mx > 1e300 ? 1e300 : 1e9;
    mx *= 1.06;
    /* Totals go after their bars: widen the axis until each fits. */
    char labs[ROWS][96];
    for (size_t i = 0; i < n; i++) {
        char tg[32];
        fmt_gb(tot[i], tg, sizeof tg);
        if (have_cap && tot[i] / cap < 1e4)
            snprintf(labs[i], sizeof labs[i], "%s, %.0f%%%s", tg, 100.0 * tot[i] / cap,
                     tot[i] > cap ? " (over capacity)" : "");
        else
            snprintf(labs[i], sizeof labs[i], "%s", tg);
        double room = (RX1 - RX0) - 6 - text_w(labs[i], 11);
        if (room > (RX1 - RX0) / 3 && tot[i] < 1e300)
            mx = fmax(mx, tot[i] * (RX1 - RX0) / room);
    }
    scale sx = {0, mx, RX0, RX1};

    /* GB axis, 1-2-5 steps. */
    double raw = mx / 1e9 / 8, mag = pow(10.0, floor(log10(raw))), q = raw / mag;
    double step = mag * (q <= 1 ? 1 : q <= 2 ? 2 : q <= 5 ? 5 : 10);
    int dec = step >= 1 ? 0 : (int)fmin(9, ceil(-log10(step) - 1e-9));
    fputs("<g font-size=\"11\" fill=\"" C_TEXT "\" text-anchor=\"middle\">\n", f);
    for (int k = 0; k <= 20 && k * step * 1e9 <= mx; k++) {
        double gb = k * step, x = map(&sx, gb * 1e9);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, RY0, x, RY1, C_GRID);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", x, RY1, x, RY1 + 5, C_AXIS);
        if (gb < 1e7)
            text(f, x, RY1 + 18, "", "%.*f", dec, gb);
        else
            text(f, x, RY1 + 18, "", "%.3g", gb);
    }
    fputs("</g>\n", f);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", RX0, RY1, RX1, RY1, C_AXIS);
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"/>\n", RX0, RY0, RX0, RY1, C_AXIS);
    text(f, (RX0 + RX1) / 2, RY1 + 38, "text-anchor=\"middle\" font-size=\"12\" fill=\"" C_TEXT "\"",
         "memory per GPU (GB, 10^9 bytes)");

    /* Bars first, then the capacity line over them, then the labels over
     * both (with a halo); bar and labels of a row share a tooltip. */
    const double row = (RY1 - RY0) / ROWS;
    for (size_t i = 0; i < n; i++) {
        double y = RY0 + i * row;
        fputs("<g>", f);
        row_title(f, &r->best[i], r->experts, i, tot[i], cap);
        double acc = 0;
        for (int k = 0; k < 5; k++) {
            if (!(parts[i][k] > 0))
                continue;
            double x0 = map(&sx, acc), x1 = map(&sx, acc + parts[i][k]);
            acc += parts[i][k];
            char pg[32], tt[160];
            fmt_gb(parts[i][k], pg, sizeof pg);
            snprintf(tt, sizeof tt, "%s: %s (%.1f%% of this layout)", part_name[k], pg,
                     tot[i] > 0 ? 100.0 * parts[i][k] / tot[i] : 0.0);
            fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"14\" fill=\"%s\" stroke=\"#ffffff\" stroke-width=\"0.5\"><title>",
                    x0, y + 17, fmax(0, x1 - x0), part_colour[k]);
            put_esc(f, tt, 0);
            fputs("</title></rect>\n", f);
        }
        fputs("</g>\n", f);
    }
    if (!n)
        note(f, (RX0 + RX1) / 2, (RY0 + RY1) / 2, "no layout fits");

    if (have_cap) {
        double x = map(&sx, cap);
        char cg[32];
        fmt_gb(cap, cg, sizeof cg);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"><title>capacity %s per GPU</title></line>\n",
                x, RY0 - 8, x, RY1, C_RANK1, cg);
        text(f, x - 4, RY0 - 2, "text-anchor=\"end\" font-size=\"11\" fill=\"" C_RANK1 "\"", "capacity %s", cg);
    }

    /* Labels: rank and layout above each bar; the total after the bar, or
     * inside its end if there is still no room. */
    for (size_t i = 0; i < n; i++) {
        double y = RY0 + i * row, xe = map(&sx, tot[i]);
        bool over = have_cap && tot[i] > cap, inside = xe + 5 + text_w(labs[i], 11) > RX1;
        char rank[32], sl[160];
        snprintf(rank, sizeof rank, "#%zu", i + 1);
        short_layout(&r->best[i].lay, r->experts, sl, sizeof sl);
        fputs("<g>", f);
        row_title(f, &r->best[i], r->experts, i, tot[i], cap);
        halo_text(f, RX0 + 4, y + 13, "font-size=\"11\" font-weight=\"bold\"", C_TEXT, rank);
        halo_text(f, RX0 + 34, y + 13, "font-size=\"11\"", C_TEXT, sl);
        halo_text(f, inside ? xe - 4 : xe + 5, y + 28,
                  inside ? (over ? "text-anchor=\"end\" font-size=\"11\" font-weight=\"bold\"" : "text-anchor=\"end\" font-size=\"11\"")
                         : (over ? "font-size=\"11\" font-weight=\"bold\"" : "font-size=\"11\""),
                  over ? C_RANK1 : C_TEXT, labs[i]);
        fputs("</g>\n", f);
    }

    /* Legend: the five parts and the capacity line. */
    double lx = RX0, ly = 512;
    for (int k = 0; k < 5; k++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"11\" height=\"11\" fill=\"%s\"/>\n", lx, ly - 9, part_colour[k]);
        text(f, lx + 15, ly, "font-size=\"11\" fill=\"" C_TEXT "\"", "%s", part_name[k]);
        lx += 15 + text_w(part_name[k], 11) + 10;
    }
    fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/>\n",
            lx + 5, ly - 10, lx + 5, ly + 2, C_RANK1);
    text(f, lx + 12, ly, "font-size=\"11\" fill=\"" C_TEXT "\"", "capacity");
}

/* ---- document ------------------------------------------------------------ */

void mp_svg_plan(FILE *f, const mp_search_result *r, const char *title, double capacity_bytes)
{
    if (!f)
        return;
    static const mp_search_result none;
    if (!r)
        r = &none;
    if (!title)
        title = "moeplan";
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", f);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            SVG_W, SVG_H, SVG_W, SVG_H);
    fputs("<title>", f);
    put_esc(f, title, 0);
    fputs("</title>\n", f);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", SVG_W, SVG_H);
    fputs("<g font-family=\"" FONT "\">\n", f);

    fputs("<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\" fill=\"" C_TEXT "\">", f);
    put_esc(f, title, 100);
    fputs("</text>\n", f);
    char a[32], b[32], c[32], d[32];
    fmt_count(r->considered, a, sizeof a);
    fmt_count(r->scored, b, sizeof b);
    fmt_count(r->kept, c, sizeof c);
    fmt_count(r->pareto ? r->n_pareto : 0, d, sizeof d);
    text(f, 20, 50, "font-size=\"12\" fill=\"" C_MUTED "\"",
         "%s layout%s considered, %s scored, %s kept (fit and meet the targets), %s on the Pareto front (GPUs, "
         "tokens/s, memory)",
         a, mp_plural((long long)r->considered), b, c, d);

    fputs("<g>\n", f);
    pareto_panel(f, r, capacity_bytes);
    pareto_key(f, r);
    fputs("</g>\n<g>\n", f);
    memory_panel(f, r, capacity_bytes);
    fputs("</g>\n", f);
    text(f, 20, 550, "font-size=\"10.5\" fill=\"" C_MUTED "\"",
         "Hover a point or a bar for its full layout. Memory per GPU includes the reserved allowance and fragmentation "
         "(other).");
    fputs("</g>\n</svg>\n", f);
}

/* ---- the simulator's pipeline timeline ------------------------------------ */

/* One row per pipeline rank: its forward (blue), backward (green) and
 * weight-gradient (orange) passes, each labelled with its micro-batch,
 * the pipeline sends as a thin bar under the row, then the DP reduction
 * (grey) and the optimizer (purple); time left to right from 0. */
void mp_svg_timeline(FILE *f, const mp_sim_result *r, const char *title)
{
    if (!f || !r)
        return;
    const double x0 = 120, x1 = 1080, row_h = 30, top = 80;
    int rows = r->ranks;
    double h = top + rows * row_h + 70;
    double span = r->events_span_s > 0 ? r->events_span_s : 1;
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n", f);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"1100\" height=\"%.0f\" "
               "viewBox=\"0 0 1100 %.0f\">\n", h, h);
    fputs("<title>", f);
    put_esc(f, title ? title : "moeplan simulate", 0);
    fputs("</title>\n", f);
    fprintf(f, "<rect x=\"0\" y=\"0\" width=\"1100\" height=\"%.0f\" fill=\"#ffffff\"/>\n", h);
    fputs("<g font-family=\"" FONT "\">\n", f);
    fputs("<text x=\"20\" y=\"30\" font-size=\"18\" font-weight=\"bold\" fill=\"" C_TEXT "\">", f);
    put_esc(f, title ? title : "moeplan simulate", 100);
    fputs("</text>\n", f);
    char ts[32];
    fmt_time(span, ts, sizeof ts);
    text(f, 20, 50, "font-size=\"12\" fill=\"" C_MUTED "\"",
         "schedule %s; one step of the slowest data-parallel group, %s; F forward, B backward, W weight gradient",
         mp_schedule_name(r->schedule), ts);
    for (int i = 0; i <= 5; i++) { /* time axis */
        double x = x0 + (x1 - x0) * i / 5.0;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"" C_GRID "\"/>\n", x, top - 6, x,
                top + rows * row_h);
        fmt_time(span * i / 5.0, ts, sizeof ts);
        text(f, x, top + rows * row_h + 18, "font-size=\"11\" text-anchor=\"middle\" fill=\"" C_MUTED "\"", "%s", ts);
    }
    for (int p = 0; p < rows; p++)
        text(f, x0 - 10, top + p * row_h + row_h * 0.55, "font-size=\"12\" text-anchor=\"end\" fill=\"" C_TEXT "\"",
             "rank %d", p);
    for (size_t i = 0; i < r->n_events; i++) {
        const mp_sim_event *e = &r->events[i];
        if (e->kind == MP_EV_OP)
            continue; /* the passes only; the trace has their ops */
        double xa = px(x0 + (x1 - x0) * e->start_s / span), xb = px(x0 + (x1 - x0) * e->end_s / span);
        double y = top + e->rank * row_h;
        const char *col = e->kind == MP_EV_FWD     ? "#0072b2"
                          : e->kind == MP_EV_BWD   ? "#009e73"
                          : e->kind == MP_EV_WGRAD ? "#e69f00"
                          : e->kind == MP_EV_SEND  ? "#d55e00"
                          : e->kind == MP_EV_DP    ? "#999999"
                          : e->kind == MP_EV_OPT   ? "#cc79a7"
                                                   : "#56b4e9";
        double ya = e->kind == MP_EV_SEND ? y + row_h - 7 : y + 3, hh = e->kind == MP_EV_SEND ? 3 : row_h - 11;
        double wpx = xb - xa < 0.3 ? 0.3 : xb - xa;
        fprintf(f, "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"%s\" stroke=\"#ffffff\" "
                   "stroke-width=\"0.5\"><title>", xa, ya, wpx, hh, col);
        char d[32];
        fmt_time(e->end_s - e->start_s, d, sizeof d);
        if (e->micro_batch >= 0)
            fprintf(f, "rank %d chunk %d micro-batch %d: %s", e->rank, e->chunk, e->micro_batch, d);
        else
            fprintf(f, "rank %d: %s", e->rank, d);
        fputs("</title></rect>\n", f);
        if (e->kind != MP_EV_SEND && e->micro_batch >= 0 && wpx >= 16)
            text(f, (xa + xb) / 2, ya + hh * 0.72, "font-size=\"10\" text-anchor=\"middle\" fill=\"#ffffff\"", "%s%d",
                 e->kind == MP_EV_FWD ? "F" : e->kind == MP_EV_BWD ? "B" : e->kind == MP_EV_WGRAD ? "W" : "FB",
                 e->micro_batch);
    }
    static const char *const key_name[] = {"forward",      "backward",  "weight gradient",        "pipeline send",
                                           "DP reduction", "optimizer", "forward+backward (DualPipe)"};
    static const char *const key_col[] = {"#0072b2", "#009e73", "#e69f00", "#d55e00", "#999999", "#cc79a7", "#56b4e9"};
    double kx = x0, ky = top + rows * row_h + 40;
    for (int i = 0; i < 7; i++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", kx, ky - 10, key_col[i]);
        text(f, kx + 16, ky, "font-size=\"11\" fill=\"" C_TEXT "\"", "%s", key_name[i]);
        kx += 30 + text_w(key_name[i], 11);
    }
    fputs("</g>\n</svg>\n", f);
}
