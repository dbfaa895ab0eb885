/* layer_error.c - see layer_error.h. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layer_error.h"

void slq_layer_errors_init(slq_layer_errors *a, const slq_weights *ref, const slq_weights *cmp)
{
    memset(a, 0, sizeof *a);
    a->ref = ref;
    a->cmp = cmp;
}

void slq_layer_errors_free(slq_layer_errors *a)
{
    free(a->e);
    a->e = NULL;
    a->n = a->cap = 0;
}

static slq_layer_err *entry(slq_layer_errors *a, const char *name, size_t layer)
{
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->e[i].name, name) == 0) return &a->e[i];
    if (a->n == a->cap) {
        size_t c = a->cap ? 2 * a->cap : 16;
        slq_layer_err *e = realloc(a->e, c * sizeof *e);
        if (!e) return NULL;
        a->e = e;
        a->cap = c;
    }
    slq_layer_err *e = &a->e[a->n++];
    memset(e, 0, sizeof *e);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->layer = layer;
    return e;
}

/* lm_head may be tied to the embedding in either model. */
static const char *resolve(const slq_weights *w, const char *name)
{
    slq_weight_info info;
    if (strcmp(name, "lm_head.weight") == 0 &&
        slq_weights_info(w, name, &info, NULL) != SLQ_OK)
        return "model.embed_tokens.weight";
    return name;
}

static int one(slq_layer_errors *a, const char *name, size_t layer, const float *X, size_t T,
               size_t in)
{
    slq_weight_info ip, iq;
    const char *np = resolve(a->ref, name), *nq = resolve(a->cmp, name);
    if (slq_weights_info(a->ref, np, &ip, &a->err) || slq_weights_info(a->cmp, nq, &iq, &a->err))
        return -1;
    if (ip.cols != in || iq.cols != in || ip.rows != iq.rows) {
        a->err.code = SLQ_E_CORRUPT;
        snprintf(a->err.msg, sizeof a->err.msg, "%s: shapes differ between the models", name);
        return -1;
    }
    size_t out = (size_t)ip.rows;
    float *wp = malloc(out * in * sizeof(float)), *wq = malloc(out * in * sizeof(float));
    float *y = malloc(T * out * sizeof(float)), *d = malloc(T * out * sizeof(float));
    slq_layer_err *e = entry(a, name, layer);
    int rc = -1;
    if (!wp || !wq || !y || !d || !e) {
        a->err.code = SLQ_E_NOMEM;
        snprintf(a->err.msg, sizeof a->err.msg, "%s: out of memory for the per-layer error",
                 name);
        goto done;
    }
    if (slq_weights_read(a->ref, np, 0, out, wp, &a->err) ||
        slq_weights_read(a->cmp, nq, 0, out, wq, &a->err))
        goto done;
    for (size_t i = 0; i < out * in; i++) wq[i] -= wp[i];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)out, (int)in, 1.0f, X,
                (int)in, wp, (int)in, 0.0f, y, (int)out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)out, (int)in, 1.0f, X,
                (int)in, wq, (int)in, 0.0f, d, (int)out);
    for (size_t i = 0; i < T * out; i++) {
        e->sum_y2 += (double)y[i] * y[i];
        e->sum_d2 += (double)d[i] * d[i];
    }
    e->tokens += T;
    rc = 0;
done:
    free(wp);
    free(wq);
    free(y);
    free(d);
    return rc;
}

int slq_layer_errors_observer(void *user, size_t layer, const char *linear, const float *X,
                              size_t T, size_t in)
{
    slq_layer_errors *a = user;
    static const char *qkv[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"};
    static const char *gu[] = {"mlp.gate_proj", "mlp.up_proj"};
    static const char *o[] = {"self_attn.o_proj"};
    static const char *dn[] = {"mlp.down_proj"};
    const char **parts;
    size_t np;
    char name[160];
    if (a->failed) return 1;
    if (strcmp(linear, "lm_head") == 0) {
        if (one(a, "lm_head.weight", layer, X, T, in)) a->failed = 1;
        return a->failed;
    }
    if (strcmp(linear, "qkv") == 0) parts = qkv, np = 3;
    else if (strcmp(linear, "gate_up") == 0) parts = gu, np = 2;
    else if (strcmp(linear, "o_proj") == 0) parts = o, np = 1;
    else if (strcmp(linear, "down_proj") == 0) parts = dn, np = 1;
    else return 0; /* a linear this code does not know: not measured */
    for (size_t k = 0; k < np && !a->failed; k++) {
        snprintf(name, sizeof name, "model.layers.%zu.%s.weight", layer, parts[k]);
        if (one(a, name, layer, X, T, in)) a->failed = 1;
    }
    return a->failed;
}
