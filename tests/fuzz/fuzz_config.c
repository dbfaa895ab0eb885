/* fuzz_config.c - config.json reader (slq_decoder_config_parse) and, for an
 * accepted config of a sane head size, the RoPE frequencies it implies. */
#include <stdlib.h>

#include "fuzz_util.h"
#include "model_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    slq_error err;
    slq_decoder_config cfg;
    if (slq_decoder_config_parse((const char *)data, size, &cfg, &err) != SLQ_OK) return 0;
    if (cfg.head_dim == 0 || cfg.head_dim > (1u << 16)) return 0;
    float *f = malloc(cfg.head_dim / 2 * sizeof *f + sizeof *f);
    if (f) slq_decoder_config_inv_freq(&cfg, f);
    free(f);
    return 0;
}
