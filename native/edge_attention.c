/* Fused sparse edge attention (EdgeAttention.sparse in src/Nn/EdgeAttention.fs), forward and backward, float32.
 *
 * Why: in torch operations the attention core is ~40 elementwise passes over the B·E edge rows per layer (forward and
 * autograd backward); here the forward reads each edge's four term rows twice (once per direction) and the backward
 * three times, with no temporaries. Work is split over batch elements by the caller, so a call touches only its own
 * rows: no races, no atomics, and the summation order is fixed (deterministic).
 *
 * Layout: node terms q, k, v [B, N, H] and edge terms qe, ke, ve, me [B, E, H], contiguous, H = heads·dh, head h in
 * columns [h·dh, (h+1)·dh). The graph's indexing is in neural_graph.h.
 *
 * Node n attends over itself (q_n·k_n, value v_n), its outgoing edges n -> t (query q_n + qe, key k_t + ke, value
 * ve + v_t ⊙ me) and its incoming edges s -> n (query q_n + qe, key k_s + ke, value ve + v_s ⊙ me); the softmax over
 * that neighbourhood is computed in one pass with a running maximum (log-sum-exp saved for the backward).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "neural_graph.h"

/* score of one pair for head h (unscaled dot product) and its value row into val[dh] */
static inline float score_value(const graph_t *g, const float *qn, const float *km, const float *vm,
                                const float *qe, const float *ke, const float *ve, const float *me, float *val) {
    int dh = g->dh;
    float s = 0.0f;
    if (!qe) {
        for (int d = 0; d < dh; d++) { s += qn[d] * km[d]; val[d] = vm[d]; }
    } else {
        for (int d = 0; d < dh; d++) { s += (qn[d] + qe[d]) * (km[d] + ke[d]); val[d] = ve[d] + vm[d] * me[d]; }
    }
    return s * g->scale;
}

int wf_edge_attention_forward(int64_t b0, int64_t b1, int64_t nodes, int64_t edges, int layers, const int64_t *w,
                              int heads, int dh, float scale,
                              const float *q, const float *k, const float *v,
                              const float *qe, const float *ke, const float *ve, const float *me,
                              float *out, float *lse) {
    graph_t g;
    if (setup(&g, nodes, edges, layers, w, heads, dh, 0, scale)) return -1;
    int64_t H = (int64_t)heads * dh;
    pair_t *p = malloc(sizeof(pair_t) * max_degree(&g));
    float *val = malloc(sizeof(float) * dh);
    if (!p || !val) { free(p); free(val); return -3; }
    for (int64_t b = b0; b < b1; b++) {
        const float *qb = q + b * nodes * H, *kb = k + b * nodes * H, *vb = v + b * nodes * H;
        const float *qeb = qe + b * edges * H, *keb = ke + b * edges * H, *veb = ve + b * edges * H, *meb = me + b * edges * H;
        for (int64_t n = 0; n < nodes; n++) {
            int64_t c = pairs_of(&g, n, p);
            for (int h = 0; h < heads; h++) {
                int64_t o = (int64_t)h * dh;
                float *acc = out + (b * nodes + n) * H + o;
                float m = -INFINITY, den = 0.0f;
                for (int d = 0; d < dh; d++) acc[d] = 0.0f;
                for (int64_t i = 0; i < c; i++) {
                    int64_t e = p[i].edge, key = p[i].key;
                    float s = e < 0
                        ? score_value(&g, qb + n * H + o, kb + key * H + o, vb + key * H + o, 0, 0, 0, 0, val)
                        : score_value(&g, qb + n * H + o, kb + key * H + o, vb + key * H + o,
                                      qeb + e * H + o, keb + e * H + o, veb + e * H + o, meb + e * H + o, val);
                    if (s > m) {
                        float r = expf(m - s); /* 0 on the first pair (m = -inf) */
                        den *= r;
                        for (int d = 0; d < dh; d++) acc[d] *= r;
                        m = s;
                    }
                    float a = expf(s - m);
                    den += a;
                    for (int d = 0; d < dh; d++) acc[d] += a * val[d];
                }
                for (int d = 0; d < dh; d++) acc[d] /= den;
                lse[(b * nodes + n) * heads + h] = m + logf(den);
            }
        }
    }
    free(p); free(val);
    return 0;
}

/* Gradients of all seven inputs given gout [B, N, H] and the forward's out and lse. Every output is fully written. */
int wf_edge_attention_backward(int64_t b0, int64_t b1, int64_t nodes, int64_t edges, int layers, const int64_t *w,
                               int heads, int dh, float scale,
                               const float *q, const float *k, const float *v,
                               const float *qe, const float *ke, const float *ve, const float *me,
                               const float *out, const float *lse, const float *gout,
                               float *gq, float *gk, float *gv, float *gqe, float *gke, float *gve, float *gme) {
    graph_t g;
    if (setup(&g, nodes, edges, layers, w, heads, dh, 0, scale)) return -1;
    int64_t H = (int64_t)heads * dh;
    pair_t *p = malloc(sizeof(pair_t) * max_degree(&g));
    float *val = malloc(sizeof(float) * dh);
    /* per batch element: attention weight a and score gradient gs of each pair, per head:
       out-pairs (seen from the source) and in-pairs (seen from the target) per edge, self pairs per node */
    float *aOut = malloc(sizeof(float) * edges * heads), *gOut = malloc(sizeof(float) * edges * heads);
    float *aIn = malloc(sizeof(float) * edges * heads), *gIn = malloc(sizeof(float) * edges * heads);
    float *aSelf = malloc(sizeof(float) * nodes * heads), *gSelf = malloc(sizeof(float) * nodes * heads);
    int rc = 0;
    if (!p || !val || !aOut || !gOut || !aIn || !gIn || !aSelf || !gSelf) { rc = -3; goto done; }
    for (int64_t b = b0; b < b1; b++) {
        const float *qb = q + b * nodes * H, *kb = k + b * nodes * H, *vb = v + b * nodes * H;
        const float *qeb = qe + b * edges * H, *keb = ke + b * edges * H, *veb = ve + b * edges * H, *meb = me + b * edges * H;
        const float *ob = out + b * nodes * H, *gob = gout + b * nodes * H;
        float *gqb = gq + b * nodes * H, *gkb = gk + b * nodes * H, *gvb = gv + b * nodes * H;
        float *gqeb = gqe + b * edges * H, *gkeb = gke + b * edges * H, *gveb = gve + b * edges * H, *gmeb = gme + b * edges * H;
        memset(gkb, 0, sizeof(float) * nodes * H);
        memset(gvb, 0, sizeof(float) * nodes * H);
        /* 1. per query node: weights, score gradients gs = a (<gout, val> - <gout, out>) · scale, and gq */
        for (int64_t n = 0; n < nodes; n++) {
            int64_t c = pairs_of(&g, n, p);
            for (int h = 0; h < heads; h++) {
                int64_t o = (int64_t)h * dh;
                const float *gon = gob + n * H + o, *qn = qb + n * H + o;
                float *gqn = gqb + n * H + o;
                float dOut = 0.0f, L = lse[(b * nodes + n) * heads + h];
                for (int d = 0; d < dh; d++) { dOut += gon[d] * ob[n * H + o + d]; gqn[d] = 0.0f; }
                for (int64_t i = 0; i < c; i++) {
                    int64_t e = p[i].edge, key = p[i].key;
                    const float *km = kb + key * H + o, *vm = vb + key * H + o;
                    const float *qee = e < 0 ? 0 : qeb + e * H + o, *kee = e < 0 ? 0 : keb + e * H + o;
                    /* the score and <gout, value> in one pass over the pair's rows */
                    float s = 0.0f, gv_ = 0.0f;
                    if (e < 0) {
                        for (int d = 0; d < dh; d++) { s += qn[d] * km[d]; gv_ += gon[d] * vm[d]; }
                    } else {
                        const float *vee = veb + e * H + o, *mee = meb + e * H + o;
                        for (int d = 0; d < dh; d++) {
                            s += (qn[d] + qee[d]) * (km[d] + kee[d]);
                            gv_ += gon[d] * (vee[d] + vm[d] * mee[d]);
                        }
                    }
                    float a = expf(s * g.scale - L);
                    float gs = a * (gv_ - dOut) * g.scale;
                    if (e < 0) { for (int d = 0; d < dh; d++) gqn[d] += gs * km[d]; aSelf[n * heads + h] = a; gSelf[n * heads + h] = gs; }
                    else {
                        for (int d = 0; d < dh; d++) gqn[d] += gs * (km[d] + kee[d]);
                        /* an out-pair's key is in the next layer (a larger index), an in-pair's in the previous */
                        if (key > n) { aOut[e * heads + h] = a; gOut[e * heads + h] = gs; }
                        else { aIn[e * heads + h] = a; gIn[e * heads + h] = gs; }
                    }
                }
            }
        }
        /* 2. self pairs: key- and value-side gradients of the node itself */
        self_pair_grads(nodes, heads, dh, aSelf, gSelf, qb, gob, gkb, gvb);
        /* 3. per edge s -> t: the out-pair (query s, key t) and the in-pair (query t, key s) */
        for (int l = 0; l < g.layers; l++)
            for (int64_t i = 0; i < g.w[l]; i++)
                for (int64_t j = 0; j < g.w[l + 1]; j++) {
                    int64_t e = g.eo[l] + i * g.w[l + 1] + j, s = g.no[l] + i, t = g.no[l + 1] + j;
                    for (int h = 0; h < heads; h++) {
                        int64_t o = (int64_t)h * dh, eh = e * heads + h;
                        float ao = aOut[eh], go = gOut[eh], ai = aIn[eh], gi = gIn[eh];
                        const float *qee = qeb + e * H + o, *kee = keb + e * H + o, *mee = meb + e * H + o;
                        const float *qs = qb + s * H + o, *qt = qb + t * H + o, *ks = kb + s * H + o, *kt = kb + t * H + o;
                        const float *vs = vb + s * H + o, *vt = vb + t * H + o, *gos = gob + s * H + o, *got = gob + t * H + o;
                        float *gqee = gqeb + e * H + o, *gkee = gkeb + e * H + o, *gvee = gveb + e * H + o, *gmee = gmeb + e * H + o;
                        float *gkt = gkb + t * H + o, *gks = gkb + s * H + o, *gvt = gvb + t * H + o, *gvs = gvb + s * H + o;
                        for (int d = 0; d < dh; d++) {
                            float qqo = qs[d] + qee[d], kko = kt[d] + kee[d]; /* out-pair */
                            float qqi = qt[d] + qee[d], kki = ks[d] + kee[d]; /* in-pair */
                            float wo = ao * gos[d], wi = ai * got[d];         /* value gradients */
                            gqee[d] = go * kko + gi * kki;
                            gkee[d] = go * qqo + gi * qqi;
                            gvee[d] = wo + wi;
                            gmee[d] = wo * vt[d] + wi * vs[d];
                            gkt[d] += go * qqo;
                            gks[d] += gi * qqi;
                            gvt[d] += wo * mee[d];
                            gvs[d] += wi * mee[d];
                        }
                    }
                }
    }
done:
    free(p); free(val); free(aOut); free(gOut); free(aIn); free(gIn); free(aSelf); free(gSelf);
    return rc;
}
