/* test_model_blocks.c - the executor's block-level API (slq_model_embed,
 * slq_model_block_forward, slq_model_head) and custom weight sources, on the
 * synthetic model of ./slqgen.
 *
 * The block path runs the very same kernels on buffers of the same shapes
 * as slq_model_forward, so the logits must be equal bit for bit (no
 * tolerance); likewise a model over callbacks that serve the same floats. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "model.h"

typedef struct seen {
    int calls;
    char last[32];
} seen;

static int count_observer(void *user, size_t layer, const char *linear, const float *X,
                          size_t T, size_t in)
{
    (void)layer;
    (void)X;
    (void)T;
    (void)in;
    seen *s = user;
    s->calls++;
    snprintf(s->last, sizeof s->last, "%s", linear);
    return 0;
}

/* A custom source that forwards to an slq_weights. */
static slq_status cb_info(void *user, const char *name, slq_weight_info *info, slq_error *err)
{
    return slq_weights_info(user, name, info, err);
}
static slq_status cb_read(void *user, const char *name, uint64_t row0, uint64_t nrows,
                          float *out, slq_error *err)
{
    return slq_weights_read(user, name, row0, nrows, out, err);
}

int main(void)
{
    if (access("./slqgen", X_OK) != 0) SKIP("./slqgen not built (run from the build directory)");
    char dir[4200], cmd[4400];
    snprintf(dir, sizeof dir, "%s/model", check_tmpdir());
    snprintf(cmd, sizeof cmd, "./slqgen '%s' >/dev/null", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "slqgen failed\n");
        return 1;
    }
    slq_error err;
    slq_model *m = NULL;
    CHECK_OK(slq_model_open(dir, NULL, &m, &err));
    if (!m) CHECK_DONE();
    const slq_decoder_config *c = slq_model_config(m);
    const size_t n = 37, n1 = 20, V = c->vocab_size, H = c->hidden_size, L = c->num_layers;
    int32_t tok[37];
    for (size_t i = 0; i < n; i++) tok[i] = (int32_t)((i * 131 + 7) % V);
    float *ref = malloc(n * V * sizeof *ref), *got = malloc(n * V * sizeof *got);
    float *h = malloc(n * H * sizeof *h), *h2 = malloc(n * H * sizeof *h2);

    /* whole sequence */
    CHECK_OK(slq_model_forward(m, tok, n, 0, ref, &err));
    CHECK_OK(slq_model_embed(m, tok, n, h, &err));
    for (size_t l = 0; l < L; l++) CHECK_OK(slq_model_block_forward(m, l, h, n, 0, NULL, &err));
    CHECK_OK(slq_model_head(m, h, n, got, &err));
    CHECK(memcmp(ref, got, n * V * sizeof *ref) == 0, "block path differs from forward");
    CHECK(slq_model_cached(m) == 0, "block forward must mark the model cache empty");

    /* two chunks: the layer caches carry positions 0..n1-1 into the second */
    slq_model_reset(m);
    CHECK_OK(slq_model_forward(m, tok, n1, 0, ref, &err));
    CHECK_OK(slq_model_forward(m, tok + n1, n - n1, n1, ref + n1 * V, &err));
    CHECK_OK(slq_model_embed(m, tok, n, h, &err));
    for (size_t l = 0; l < L; l++) {
        CHECK_OK(slq_model_block_forward(m, l, h, n1, 0, NULL, &err));
        CHECK_OK(slq_model_block_forward(m, l, h + n1 * H, n - n1, n1, NULL, &err));
    }
    CHECK_OK(slq_model_head(m, h, n, got, &err));
    CHECK(memcmp(ref, got, n * V * sizeof *ref) == 0, "chunked block path differs");

    /* stop_after: the observer sees inputs up to that linear; h unchanged */
    static const char *const names[4] = {"qkv", "o_proj", "gate_up", "down_proj"};
    CHECK_OK(slq_model_embed(m, tok, n, h, &err));
    memcpy(h2, h, n * H * sizeof *h);
    for (int k = 0; k < 4; k++) {
        seen s = {0, ""};
        slq_model_set_observer(m, count_observer, &s);
        CHECK_OK(slq_model_block_forward(m, 1, h, n, 0, names[k], &err));
        CHECK(s.calls == k + 1 && strcmp(s.last, names[k]) == 0, "stop %s: %d calls, last %s",
              names[k], s.calls, s.last);
        CHECK(memcmp(h, h2, n * H * sizeof *h) == 0, "stop %s changed h", names[k]);
    }
    slq_model_set_observer(m, NULL, NULL);
    CHECK_STATUS(slq_model_block_forward(m, 1, h, n, 0, "lm_head", &err), SLQ_E_ARG);
    CHECK_STATUS(slq_model_block_forward(m, L, h, n, 0, NULL, &err), SLQ_E_ARG);
    int32_t bad = (int32_t)V;
    CHECK_STATUS(slq_model_embed(m, &bad, 1, h, &err), SLQ_E_ARG);

    /* a model over callbacks serving the same floats computes the same */
    slq_weights *inner = NULL, *custom = NULL;
    CHECK_OK(slq_weights_open(dir, &inner, &err));
    char *cfg = NULL;
    size_t cfg_len = 0;
    CHECK_OK(slq_weights_config_json(inner, &cfg, &cfg_len, &err));
    slq_weights_callbacks cb = {inner, cb_info, cb_read};
    CHECK_OK(slq_weights_open_custom(&cb, cfg, cfg_len, &custom, &err));
    free(cfg);
    slq_model *mc = NULL;
    CHECK_OK(slq_model_open_weights(custom, NULL, &mc, &err));
    if (mc) {
        slq_model_reset(m);
        CHECK_OK(slq_model_forward(m, tok, n, 0, ref, &err));
        CHECK_OK(slq_model_forward(mc, tok, n, 0, got, &err));
        CHECK(memcmp(ref, got, n * V * sizeof *ref) == 0, "custom source differs");
    }
    slq_model_close(mc);
    slq_weights_close(inner);

    slq_model_close(m);
    free(ref);
    free(got);
    free(h);
    free(h2);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", check_tmpdir());
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", check_tmpdir());
    CHECK_DONE();
}
