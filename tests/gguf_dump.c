/* gguf_dump - list a GGUF file's tensors under their Hugging Face names and,
 * given a directory, write its config.json and tokenizer.json there.
 * Usage: gguf_dump FILE.gguf [OUTDIR]   (a development aid; not installed) */
#include <stdio.h>
#include <string.h>

#include "gguf.h"

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) == EOF || fclose(f) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: %s FILE.gguf [OUTDIR]\n", argv[0]);
        return 2;
    }
    slq_error err;
    slq_gguf *g;
    if (slq_gguf_open(argv[1], &g, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    printf("arch %s, %zu tensors\n", slq_gguf_arch(g), slq_gguf_count(g));
    for (size_t i = 0; i < slq_gguf_count(g); i++) {
        const slq_gguf_tensor *t = slq_gguf_at(g, i);
        printf("%-56s %-5s [", t->name, t->ggml_type);
        for (int d = 0; d < t->ndim; d++) printf("%s%llu", d ? ", " : "", (unsigned long long)t->shape[d]);
        printf("]\n");
    }
    int rc = 0;
    if (argc == 3) {
        rc |= write_text(argv[2], "config.json", slq_gguf_config_json(g));
        const char *tok = slq_gguf_tokenizer_json(g);
        if (tok) rc |= write_text(argv[2], "tokenizer.json", tok);
        else fprintf(stderr, "no tokenizer.json for this file\n");
    }
    slq_gguf_close(g);
    return rc;
}
