/* fuzz_tokenizer.c - tokenizer.json loader, then encode a fixed text (ASCII,
 * digits, whitespace runs, special-token spellings, accents, CJK, emoji)
 * with every flag combination and decode the result back. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tokenizer.h"

static const char text[] =
    "Hello, world!  It's 2024: 12345 tokens\n\n\tdone. <s></s><|endoftext|><unk>"
    " h\xc3\xa9llo \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80 don't I'll   x";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    slq_error err;
    slq_tokenizer *tok;
    if (slq_tokenizer_load((const char *)data, size, &tok, &err) != SLQ_OK) return 0;
    for (int flags = 0; flags < 4; flags++) {
        int32_t *ids = NULL;
        size_t n = 0;
        if (slq_tokenizer_encode(tok, text, sizeof text - 1, flags, &ids, &n, &err) == SLQ_OK) {
            char *back;
            if (slq_tokenizer_decode(tok, ids, n, flags & 1, &back, NULL, &err) == SLQ_OK)
                free(back);
        }
        free(ids);
    }
    size_t vs = slq_tokenizer_vocab_size(tok);
    for (int32_t id = 0; id < 64 && (size_t)id < vs; id++) {
        const char *t = slq_tokenizer_token(tok, id);
        if (t) (void)slq_tokenizer_token_id(tok, t);
        (void)slq_tokenizer_is_special(tok, id);
    }
    (void)slq_tokenizer_bos(tok);
    (void)slq_tokenizer_eos(tok);
    slq_tokenizer_free(tok);
    return 0;
}
