/* Sparse edge attention with the edge projections factored through the edge features (EdgeAttention.sparseProjected
 * in src/Nn/EdgeAttention.fs), forward and backward, float32.
 *
 * Why: the Relational Transformer's edge terms are linear in the edge feature e (qe = Wq e, ke = Wk e, ve = Wv e,
 * me = Wm e, per head), and computing all four is four GEMMs over the B·E edge rows per layer (plus their backward).
 * Two of them are not needed:
 *   score = (q_i + Wq e)·(k_j + Wk e) = q_i·k_j + (Wkᵀq_i + Wqᵀk_j + A e)·e,   A = WqᵀWk   (one De×De GEMM, not two)
 *   Σ_j a_ij ve_ij = Wv Σ_j a_ij e_ij                                          (Wv applied per node, after the sum)
 * so the kernel takes per-node qt_i = Wkᵀq_i, kt_j = Wqᵀk_j, the edge rows e and u = A e, and me, and writes the
 * value part out_i = Σ_j a_ij v_j ⊙ me_ij (self pair: v_i) and ebar_i = Σ_j a_ij e_ij (self pair: nothing); the
 * caller adds Wv ebar_i. The same function as the unfactored attention (tested against it), in exact arithmetic.
 *
 * Layout: q, k, v, me [B, ·, H] with H = heads·dh (head h in columns [h·dh, (h+1)·dh)); qt, kt, ebar [B, N, heads, De]
 * and u [B, E, heads, De]; e [B, E, De] (one row shared by every head). The graph's indexing and each node's pairs
 * are in neural_graph.h; as in edge_attention.c the caller splits the work over batch elements (no races, a fixed
 * summation order).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "neural_graph.h"

/* unscaled score of an edge pair: q_n·k_j + (qt_n + kt_j + u)·e */
static inline float edge_score(int dh, int de, const float *qn, const float *kj, const float *qtn, const float *ktj,
                               const float *u, const float *e) {
    float s = 0.0f;
    for (int d = 0; d < dh; d++) s += qn[d] * kj[d];
    for (int a = 0; a < de; a++) s += (qtn[a] + ktj[a] + u[a]) * e[a];
    return s;
}

int wf_factored_attention_forward(int64_t b0, int64_t b1, int64_t nodes, int64_t edges, int layers, const int64_t *w,
                                  int heads, int dh, int de, float scale,
                                  const float *q, const float *k, const float *v, const float *qt, const float *kt,
                                  const float *e, const float *u, const float *me,
                                  float *out, float *ebar, float *lse) {
    graph_t g;
    if (setup(&g, nodes, edges, layers, w, heads, dh, de, scale)) return -1;
    int64_t H = (int64_t)heads * dh, HE = (int64_t)heads * de;
    pair_t *p = malloc(sizeof(pair_t) * max_degree(&g));
    if (!p) return -3;
    for (int64_t b = b0; b < b1; b++) {
        const float *qb = q + b * nodes * H, *kb = k + b * nodes * H, *vb = v + b * nodes * H;
        const float *qtb = qt + b * nodes * HE, *ktb = kt + b * nodes * HE;
        const float *eb = e + b * edges * de, *ub = u + b * edges * HE, *meb = me + b * edges * H;
        for (int64_t n = 0; n < nodes; n++) {
            int64_t c = pairs_of(&g, n, p);
            for (int h = 0; h < heads; h++) {
                int64_t o = (int64_t)h * dh, oe = (int64_t)h * de;
                float *acc = out + (b * nodes + n) * H + o, *eacc = ebar + (b * nodes + n) * HE + oe;
                const float *qn = qb + n * H + o, *qtn = qtb + n * HE + oe;
                float m = -INFINITY, den = 0.0f;
                for (int d = 0; d < dh; d++) acc[d] = 0.0f;
                for (int a = 0; a < de; a++) eacc[a] = 0.0f;
                for (int64_t i = 0; i < c; i++) {
                    int64_t r = p[i].edge, j = p[i].key;
                    const float *kj = kb + j * H + o, *vj = vb + j * H + o;
                    float s;
                    if (r < 0) {
                        s = 0.0f;
                        for (int d = 0; d < dh; d++) s += qn[d] * kj[d];
                    } else {
                        s = edge_score(dh, de, qn, kj, qtn, ktb + j * HE + oe, ub + r * HE + oe, eb + r * de);
                    }
                    s *= g.scale;
                    if (s > m) {
                        float rs = expf(m - s); /* 0 on the first pair (m = -inf) */
                        den *= rs;
                        for (int d = 0; d < dh; d++) acc[d] *= rs;
                        for (int a = 0; a < de; a++) eacc[a] *= rs;
                        m = s;
                    }
                    float wgt = expf(s - m);
                    den += wgt;
                    if (r < 0) {
                        for (int d = 0; d < dh; d++) acc[d] += wgt * vj[d];
                    } else {
                        const float *mer = meb + r * H + o, *er = eb + r * de;
                        for (int d = 0; d < dh; d++) acc[d] += wgt * vj[d] * mer[d];
                        for (int a = 0; a < de; a++) eacc[a] += wgt * er[a];
                    }
                }
                float inv = 1.0f / den;
                for (int d = 0; d < dh; d++) acc[d] *= inv;
                for (int a = 0; a < de; a++) eacc[a] *= inv;
                lse[(b * nodes + n) * heads + h] = m + logf(den);
            }
        }
    }
    free(p);
    return 0;
}

/* Gradients of all eight inputs given gout [B, N, H], gebar [B, N, heads, De] and the forward's out, ebar and lse.
 * Every gradient is fully written. */
int wf_factored_attention_backward(int64_t b0, int64_t b1, int64_t nodes, int64_t edges, int layers, const int64_t *w,
                                   int heads, int dh, int de, float scale,
                                   const float *q, const float *k, const float *v, const float *qt, const float *kt,
                                   const float *e, const float *u, const float *me,
                                   const float *out, const float *ebar, const float *lse,
                                   const float *gout, const float *gebar,
                                   float *gq, float *gk, float *gv, float *gqt, float *gkt,
                                   float *ge, float *gu, float *gme) {
    graph_t g;
    if (setup(&g, nodes, edges, layers, w, heads, dh, de, scale)) return -1;
    int64_t H = (int64_t)heads * dh, HE = (int64_t)heads * de;
    pair_t *p = malloc(sizeof(pair_t) * max_degree(&g));
    /* attention weight a and score gradient gs of each pair and head: out-pairs (seen from the source) and in-pairs
       (seen from the target) per edge, self pairs per node */
    float *aOut = malloc(sizeof(float) * edges * heads), *gOut = malloc(sizeof(float) * edges * heads);
    float *aIn = malloc(sizeof(float) * edges * heads), *gIn = malloc(sizeof(float) * edges * heads);
    float *aSelf = malloc(sizeof(float) * nodes * heads), *gSelf = malloc(sizeof(float) * nodes * heads);
    int rc = 0;
    if (!p || !aOut || !gOut || !aIn || !gIn || !aSelf || !gSelf) { rc = -3; goto done; }
    for (int64_t b = b0; b < b1; b++) {
        const float *qb = q + b * nodes * H, *kb = k + b * nodes * H, *vb = v + b * nodes * H;
        const float *qtb = qt + b * nodes * HE, *ktb = kt + b * nodes * HE;
        const float *eb = e + b * edges * de, *ub = u + b * edges * HE, *meb = me + b * edges * H;
        const float *ob = out + b * nodes * H, *ebb = ebar + b * nodes * HE;
        const float *gob = gout + b * nodes * H, *gebb = gebar + b * nodes * HE;
        float *gqb = gq + b * nodes * H, *gkb = gk + b * nodes * H, *gvb = gv + b * nodes * H;
        float *gqtb = gqt + b * nodes * HE, *gktb = gkt + b * nodes * HE;
        float *geb = ge + b * edges * de, *gub = gu + b * edges * HE, *gmeb = gme + b * edges * H;
        memset(gkb, 0, sizeof(float) * nodes * H);
        memset(gvb, 0, sizeof(float) * nodes * H);
        memset(gktb, 0, sizeof(float) * nodes * HE);
        /* 1. per query node: weights, score gradients gs = a (da - <gout, out> - <gebar, ebar>) · scale with
              da = <gout, v ⊙ me> + <gebar, e>, and the query-side gradients gq, gqt */
        for (int64_t n = 0; n < nodes; n++) {
            int64_t c = pairs_of(&g, n, p);
            for (int h = 0; h < heads; h++) {
                int64_t o = (int64_t)h * dh, oe = (int64_t)h * de;
                const float *gon = gob + n * H + o, *gen = gebb + n * HE + oe, *qn = qb + n * H + o, *qtn = qtb + n * HE + oe;
                float *gqn = gqb + n * H + o, *gqtn = gqtb + n * HE + oe;
                float dOut = 0.0f, L = lse[(b * nodes + n) * heads + h];
                for (int d = 0; d < dh; d++) { dOut += gon[d] * ob[n * H + o + d]; gqn[d] = 0.0f; }
                for (int a = 0; a < de; a++) { dOut += gen[a] * ebb[n * HE + oe + a]; gqtn[a] = 0.0f; }
                for (int64_t i = 0; i < c; i++) {
                    int64_t r = p[i].edge, j = p[i].key;
                    const float *kj = kb + j * H + o, *vj = vb + j * H + o;
                    float s = 0.0f, da = 0.0f;
                    if (r < 0) {
                        for (int d = 0; d < dh; d++) { s += qn[d] * kj[d]; da += gon[d] * vj[d]; }
                    } else {
                        const float *er = eb + r * de, *mer = meb + r * H + o;
                        s = edge_score(dh, de, qn, kj, qtn, ktb + j * HE + oe, ub + r * HE + oe, er);
                        for (int d = 0; d < dh; d++) da += gon[d] * vj[d] * mer[d];
                        for (int a = 0; a < de; a++) da += gen[a] * er[a];
                    }
                    float wgt = expf(s * g.scale - L);
                    float gs = wgt * (da - dOut) * g.scale;
                    for (int d = 0; d < dh; d++) gqn[d] += gs * kj[d];
                    if (r < 0) { aSelf[n * heads + h] = wgt; gSelf[n * heads + h] = gs; }
                    else {
                        const float *er = eb + r * de;
                        for (int a = 0; a < de; a++) gqtn[a] += gs * er[a];
                        /* an out-pair's key is in the next layer (a larger index), an in-pair's in the previous */
                        if (j > n) { aOut[r * heads + h] = wgt; gOut[r * heads + h] = gs; }
                        else { aIn[r * heads + h] = wgt; gIn[r * heads + h] = gs; }
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
                    int64_t r = g.eo[l] + i * g.w[l + 1] + j, s = g.no[l] + i, t = g.no[l + 1] + j;
                    const float *er = eb + r * de;
                    float *ger = geb + r * de;
                    for (int a = 0; a < de; a++) ger[a] = 0.0f;
                    for (int h = 0; h < heads; h++) {
                        int64_t o = (int64_t)h * dh, oe = (int64_t)h * de, rh = r * heads + h;
                        float ao = aOut[rh], go = gOut[rh], ai = aIn[rh], gi = gIn[rh];
                        const float *mer = meb + r * H + o, *ur = ub + r * HE + oe;
                        const float *qS = qb + s * H + o, *qT = qb + t * H + o;
                        const float *vs = vb + s * H + o, *vt = vb + t * H + o, *gos = gob + s * H + o, *got = gob + t * H + o;
                        const float *qtS = qtb + s * HE + oe, *qtT = qtb + t * HE + oe, *ktS = ktb + s * HE + oe, *ktT = ktb + t * HE + oe;
                        const float *gebS = gebb + s * HE + oe, *gebT = gebb + t * HE + oe;
                        float *gkT = gkb + t * H + o, *gkS = gkb + s * H + o, *gvT = gvb + t * H + o, *gvS = gvb + s * H + o;
                        float *gmer = gmeb + r * H + o, *gur = gub + r * HE + oe;
                        float *gktT = gktb + t * HE + oe, *gktS = gktb + s * HE + oe;
                        for (int d = 0; d < dh; d++) {
                            float wo = ao * gos[d], wi = ai * got[d]; /* value gradients of the two pairs */
                            gkT[d] += go * qS[d];
                            gkS[d] += gi * qT[d];
                            gvT[d] += wo * mer[d];
                            gvS[d] += wi * mer[d];
                            gmer[d] = wo * vt[d] + wi * vs[d];
                        }
                        float gsum = go + gi;
                        for (int a = 0; a < de; a++) {
                            gktT[a] += go * er[a];
                            gktS[a] += gi * er[a];
                            gur[a] = gsum * er[a];
                            ger[a] += go * (qtS[a] + ktT[a]) + gi * (qtT[a] + ktS[a]) + gsum * ur[a]
                                      + ao * gebS[a] + ai * gebT[a];
                        }
                    }
                }
    }
done:
    free(p); free(aOut); free(gOut); free(aIn); free(gIn); free(aSelf); free(gSelf);
    return rc;
}
