/* The neural graph as the attention kernels see it (edge_attention.c, factored_attention.c): an MLP's weight layers
 * as complete bipartite blocks, and each node's attention neighbourhood (itself, its outgoing and incoming edges).
 * Weight layer l's edge (l, i, j) has index eo[l] + i·w[l+1] + j, source node no[l] + i, target node no[l+1] + j (the
 * flat order of Layout.fs). Header-only: each kernel file includes it, with the one backward step they share. */
#ifndef WEIGHTFLOW_NEURAL_GRAPH_H
#define WEIGHTFLOW_NEURAL_GRAPH_H

#include <stdint.h>

typedef struct {
    int64_t nodes, edges;
    int layers;              /* weight layers L; widths w[0..L] */
    const int64_t *w;
    int64_t no[64], eo[64];  /* node and edge block offsets */
    int heads, dh;
    int de;                  /* edge feature width (factored kernel only) */
    float scale;
} graph_t;

/* Fills g and checks the widths against the node and edge counts; 0 on success. */
static int setup(graph_t *g, int64_t nodes, int64_t edges, int layers, const int64_t *w, int heads, int dh, int de,
                 float scale) {
    if (layers < 1 || layers > 62) return -1;
    g->nodes = nodes; g->edges = edges; g->layers = layers; g->w = w;
    g->heads = heads; g->dh = dh; g->de = de; g->scale = scale;
    g->no[0] = 0; g->eo[0] = 0;
    for (int l = 0; l < layers; l++) { g->no[l + 1] = g->no[l] + w[l]; g->eo[l + 1] = g->eo[l] + w[l] * w[l + 1]; }
    if (g->no[layers] + w[layers] != nodes || g->eo[layers] != edges) return -2;
    return 0;
}

static int layer_of(const graph_t *g, int64_t n) {
    int l = 0;
    while (l < g->layers && n >= g->no[l + 1]) l++;
    return l;
}

/* one pair of node n's neighbourhood: the edge row (or -1 for the self pair) and the key node */
typedef struct { int64_t edge, key; } pair_t;

/* Enumerates node n's pairs into p (self first, then outgoing, then incoming); returns the count. */
static int64_t pairs_of(const graph_t *g, int64_t n, pair_t *p) {
    int l = layer_of(g, n);
    int64_t u = n - g->no[l], c = 0;
    p[c].edge = -1; p[c].key = n; c++;
    if (l < g->layers) {
        int64_t wo = g->w[l + 1], base = g->eo[l] + u * wo;
        for (int64_t j = 0; j < wo; j++) { p[c].edge = base + j; p[c].key = g->no[l + 1] + j; c++; }
    }
    if (l > 0) {
        int64_t wi = g->w[l - 1], wn = g->w[l];
        for (int64_t i = 0; i < wi; i++) { p[c].edge = g->eo[l - 1] + i * wn + u; p[c].key = g->no[l - 1] + i; c++; }
    }
    return c;
}

static int64_t max_degree(const graph_t *g) {
    int64_t m = 0;
    for (int l = 0; l <= g->layers; l++) {
        int64_t d = 1 + (l < g->layers ? g->w[l + 1] : 0) + (l > 0 ? g->w[l - 1] : 0);
        if (d > m) m = d;
    }
    return m;
}

/* Both kernels' backward: the self pair (query n, key n, value v_n) adds gs·q_n to gk_n and a·gout_n to gv_n, per
 * head, given each node's attention weight a and score gradient gs (aSelf, gSelf [N, heads]). Rows are [N, heads·dh]. */
static void self_pair_grads(int64_t nodes, int heads, int dh, const float *aSelf, const float *gSelf, const float *q,
                            const float *gout, float *gk, float *gv) {
    int64_t H = (int64_t)heads * dh;
    for (int64_t n = 0; n < nodes; n++)
        for (int h = 0; h < heads; h++) {
            int64_t o = n * H + (int64_t)h * dh;
            float a = aSelf[n * heads + h], gs = gSelf[n * heads + h];
            for (int d = 0; d < dh; d++) {
                gk[o + d] += gs * q[o + d];
                gv[o + d] += a * gout[o + d];
            }
        }
}

#endif
