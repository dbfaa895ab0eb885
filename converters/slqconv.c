/* slqconv.c - command line of the converter: options, help, dispatch. */
#include "cleanup.h"
#include "slqconv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char help_text[] =
"NAME\n"
"    slqconv - convert a model to .slq (round to nearest, GPTQ, SparseGPT), and back\n"
"\n"
"SYNOPSIS\n"
"    slqconv [OPTIONS] INPUT OUTPUT.slq\n"
"    slqconv --dry-run [OPTIONS] INPUT [OUTPUT.slq]\n"
"    slqconv --to safetensors [--dtype f32|f16|bf16] INPUT.slq OUTPUT\n"
"\n"
"INPUT\n"
"    A .safetensors file, a sharded checkpoint's *.index.json, a Hugging Face\n"
"    model folder (model.safetensors.index.json, model.safetensors, or the only\n"
"    *.safetensors or *.gguf in it), or a .gguf file.  config.json,\n"
"    generation_config.json, tokenizer.json, tokenizer_config.json and\n"
"    special_tokens_map.json found beside the weights are embedded in the .slq\n"
"    (a GGUF supplies config.json and tokenizer.json itself).  Models that are\n"
"    already quantized (GPTQ, AWQ, compressed-tensors, bitsandbytes, FP8, or a\n"
"    quantization_config in config.json) are refused.\n"
"\n"
"WHAT IS QUANTIZED\n"
"    By default 2-D tensors named *.layers.N.*.weight (the linear layers of the\n"
"    decoder blocks) are quantized; embeddings, norms, biases, lm_head and all\n"
"    other tensors stay dense, bit-exactly in their source dtype (F32, F16 or\n"
"    BF16; other dtypes are refused for dense tensors).  A 2-D tensor matching\n"
"    a --bits-for rule is quantized even outside the default; a tensor matching\n"
"    a --keep rule is always left dense.\n"
"\n"
"RECIPE OPTIONS\n"
"    --method M            quantization method (default rtn):\n"
"                            rtn    round to nearest on an integer grid\n"
"                            higgs  data-free HIGGS: groups scaled by their RMS onto\n"
"                                   the MSE-optimal grid of a normal variable (spec\n"
"                                   §5.6); turns --rotate hadamard on unless --rotate\n"
"                                   is given; symmetric, --sym/--asym do not apply\n"
"                            mxfp4  OCP MXFP4: E2M1 values, blocks of 32, power-of-two\n"
"                                   scales (spec §7); --bits, --group-size, --sym\n"
"                                   and --scale-dtype do not apply\n"
"                            nvfp4  NVFP4: E2M1 values, blocks of 16, E4M3 scales and\n"
"                                   one F32 tensor scale (spec §7)\n"
"                            gptq   GPTQ on the calibration Hessians (needs --calib\n"
"                                   or --calib-tokens; see CALIBRATION); with\n"
"                                   --rotate hadamard GPTQ runs on the rotated weights\n"
"                                   with the rotated Hessian T H T^T\n"
"                            mr-gptq-mxfp4, mr-gptq-nvfp4  MR-GPTQ to MXFP4 / NVFP4\n"
"                                   (needs --calib): block Hadamard of the format's\n"
"                                   block size (32 / 16; --rotate overrides), block\n"
"                                   scales by the format's rule or, with the default\n"
"                                   clip search, the least-MSE neighbouring scale,\n"
"                                   then GPTQ's error feedback on the E2M1 grid\n"
"                            sparsegpt  SparseGPT pruning (with --sparsity), with\n"
"                                   --bits 2..8 also quantized in the same pass\n"
"    --bits N              bits per weight, 2..8 (default 4); with sparsegpt also\n"
"                          16 = prune only (the default there): pruned tensors are\n"
"                          stored dense, in their source dtype (F32 for GGUF)\n"
"    --group-size N|row    weights per scale along the input dimension: 16, 32,\n"
"                          64, 128, 256, or row (default 128)\n"
"    --asym                min-max grid with integer zero-points (default)\n"
"    --sym                 symmetric grid w = s(q - 2^(b-1)), no zero-points\n"
"    --scale-dtype T       scale type f16, bf16 or f32 (default f16)\n"
"    --no-clip-search      use the full min-max range of every group; by default\n"
"                          the range is shrunk by the ratio in 1.00..0.50 (steps of\n"
"                          0.01) with the least squared error per group\n"
"    --clip-search         turn the clip search back on (after a --recipe file);\n"
"                          for higgs it searches the scale as RMS x 0.80..1.20,\n"
"                          for mr-gptq-* the block scale among its neighbours\n"
"    --rotate none|hadamard[:B]\n"
"                          rotate the input dimension before quantizing (spec\n"
"                          §5.4): block-diagonal Hadamard of size B with random\n"
"                          signs, stored with the tensor and undone by decoders.\n"
"                          B is a power of two dividing the tensor's columns;\n"
"                          without :B, the largest power of two <= 128 dividing\n"
"                          them (a tensor with odd columns cannot be rotated)\n"
"    --seed N              seed of the rotation signs (SplitMix64, decimal or 0x\n"
"                          hex; default 0), the same for every tensor so that an\n"
"                          executor rotates shared inputs once\n"
"    --damp X              GPTQ/SparseGPT: add X * mean(diag H) to the Hessian's\n"
"                          diagonal (default 0.01)\n"
"    --act-order           GPTQ: quantize columns in decreasing diag(H) order, with\n"
"                          group grids fixed up front (no permutation is stored)\n"
"    --no-act-order        the natural column order (default)\n"
"    --sparsity P|N:M      SparseGPT (implies --method sparsegpt): prune a fraction P\n"
"                          of every block of 128 columns (e.g. 0.5), or keep N of\n"
"                          every M consecutive weights of a row (e.g. 2:4); the mask\n"
"                          is stored as a bitmap or as N:M ranks\n"
"    --keep REGEX          leave tensors whose name matches REGEX (POSIX extended,\n"
"                          unanchored) dense; repeatable\n"
"    --bits-for REGEX=N    quantize tensors whose name matches REGEX with N bits;\n"
"                          repeatable, the last matching rule wins\n"
"    --recipe FILE.json    read the recipe from FILE.json: keys method, bits,\n"
"                          group_size (number or \"row\"), sym, scale_dtype,\n"
"                          clip_search, clip_min, clip_steps, rotate, seed, damp,\n"
"                          act_order, sparsity (0.5 or \"2:4\"), keep [REGEX, ...],\n"
"                          bits_for {REGEX: N}; command-line options override it\n"
"\n"
"CALIBRATION (gptq, sparsegpt, --target-bits, --target-ear; with rtn only to\n"
"    report the output error)\n"
"    --calib FILE.txt      UTF-8 text, tokenized with the model's tokenizer.json\n"
"    --calib-tokens FILE   pre-tokenized: token ids as decimal integers separated by\n"
"                          whitespace\n"
"    --calib-samples N     windows (default 128)\n"
"    --calib-len L         tokens per window (default min(2048, the model's\n"
"                          max_position_embeddings))\n"
"    --calib-seed S        window starts are drawn uniformly from the token stream\n"
"                          with this seed (default 0): the same files and options\n"
"                          give the same windows (--seed is the rotation's)\n"
"    The decoder blocks are processed in order: each block's linear layers are\n"
"    quantized on the Hessian H = 2 X^T X / N of their inputs X over all window\n"
"    tokens, with the block's already-quantized layers applied (q/k/v, then\n"
"    o_proj, then gate/up, then down_proj), and the quantized block's outputs\n"
"    feed the next block.  Other quantized tensors (e.g. --bits-for lm_head)\n"
"    use rtn.  The file's provenance records the calibration file's XXH3, the\n"
"    windows' XXH3, samples, length and seed.\n"
"\n"
"NON-UNIFORM BIT ALLOCATION\n"
"    --target-bits X       choose per quantized tensor a configuration (bits from\n"
"                          --alloc-bits x group size from --alloc-groups x method\n"
"                          from --alloc-methods; sym/asym, scale dtype and clip\n"
"                          search from the recipe) so\n"
"                          that the average bits per quantized parameter, counting\n"
"                          codes, scales and zero-points as stored, is at most X and\n"
"                          sum_l alpha_l * err_l is least: err_l is the measured\n"
"                          ||W-Q(W)||^2/||W||^2 of each candidate, alpha_l the\n"
"                          tensor's sensitivity (mean KL per position when relative\n"
"                          Gaussian noise t is added to it alone, / t^2) on the\n"
"                          --calib windows; solved by dynamic programming\n"
"    --target-ear E        bisect X (to 0.05 bits) for the smallest allocation whose\n"
"                          EAR against the original on the calibration windows\n"
"                          is >= E (e.g. 0.99); check the result on held-out text\n"
"                          with slqverify --ear.  With GPTQ-family candidates each\n"
"                          step is a calibrated conversion (minutes per step)\n"
"    --alloc-windows N     calibration windows (default 4): the text's first N*L\n"
"    --alloc-ctx L         tokens per window (default 128)\n"
"    --alloc-noise T       relative noise level t of the estimate (default 0.05)\n"
"    --alloc-bits LIST     candidate bit widths, e.g. 2-8 (default) or 3,4,6\n"
"    --alloc-groups LIST   candidate group sizes (default 32,64,128,row)\n"
"    --alloc-methods LIST  candidate methods, e.g. rtn,higgs,rtn+hadamard (default:\n"
"                          the recipe's method and rotation); M+hadamard or M+none\n"
"                          sets the rotation, a bare higgs is rotated (as --method\n"
"                          higgs) and any other bare method is not; mxfp4/nvfp4\n"
"                          give one candidate each (their format fixes bits and\n"
"                          blocks).  Errors are ||W-Q(W)||^2/||W||^2; when a\n"
"                          GPTQ-family method (gptq, mr-gptq-*) is listed, every\n"
"                          candidate's error of a decoder-block linear is instead\n"
"                          tr((W-Q)H(W-Q)^T) cols / (||W||^2 tr H), H the --calib\n"
"                          Hessian of the original model's layer inputs (equal to\n"
"                          the weight error for i.i.d. errors)\n"
"    --sensitivity F.json  read alpha and the measured errors from F.json when it\n"
"                          exists (checked against the tensors' hashes), else\n"
"                          write them there for the next run (entries of other\n"
"                          candidate sets in the file are kept)\n"
"\n"
"OUTPUT OPTIONS\n"
"    --dry-run             print the per-tensor plan, the average bits per\n"
"                          parameter and the estimated file size; write nothing\n"
"    --zstd[=LEVEL]        compress sections with zstd where it helps (LEVEL 1..19,\n"
"                          default 3)\n"
"    --threads N           worker threads (default: all cores); the output is the\n"
"                          same for every N\n"
"    --json                print the summary (or plan) as one JSON object on stdout\n"
"    --quiet               print nothing but errors\n"
"    --progress            draw the progress bar even when stderr is not a terminal\n"
"                          (by default it is drawn only on a terminal)\n"
"\n"
"EXPORT\n"
"    --to safetensors      write the dequantized model of INPUT.slq to OUTPUT.  When\n"
"                          OUTPUT ends with '/' or is a folder, write\n"
"                          OUTPUT/model.safetensors and the embedded files\n"
"                          (config.json, tokenizer.json, ...) beside it.\n"
"    --dtype T             f32, f16 or bf16 for every tensor.  Default: quantized\n"
"                          tensors as f32 (their decoded values exactly) and dense\n"
"                          tensors in their own dtype (bit-exact).\n"
"\n"
"OTHER\n"
"    -h, --help            this text\n"
"    --version             print the version\n"
"\n"
"OUTPUT AND EXIT STATUS\n"
"    Files are written under a temporary name and renamed when complete: a failed\n"
"    or interrupted run never leaves a partial OUTPUT and never changes an\n"
"    existing one.  A summary (time, sizes, bits per parameter, relative error\n"
"    ||W - Q(W)||_F / ||W||_F mean and worst) goes to stdout; errors are one line\n"
"    on stderr and the exit status is 1 (2 for a usage error).\n";

int sc_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("slqconv: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

static int usage(const char *fmt, const char *arg)
{
    fputs("slqconv: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs(" (see slqconv --help)\n", stderr);
    return 2;
}

int sc_want_progress(const sc_opts *o)
{
    if (o->quiet) return 0;
    if (o->progress >= 0) return o->progress;
    return isatty(2);
}

int sc_output_ok(const char *path, char *msg, size_t msgsize)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
        snprintf(msg, msgsize, "%s: output is a folder; give a file name", path);
        return 0;
    }
    const char *slash = strrchr(path, '/');
    if (!slash) return 1;
    size_t n = (size_t)(slash - path);
    char *dir = n ? strndup(path, n) : strdup("/");
    int ok = dir && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
    if (!ok) snprintf(msg, msgsize, "%s: output folder %s does not exist", path, dir ? dir : "");
    free(dir);
    return ok;
}

/* Options that take a value (--opt VALUE or --opt=VALUE). */
static const char *const valued[] = {"--method", "--bits", "--group-size", "--scale-dtype",
                                     "--keep", "--bits-for", "--recipe", "--threads",
                                     "--rotate", "--seed", "--to", "--dtype", "--damp",
                                     "--sparsity", "--calib", "--calib-tokens",
                                     "--calib-samples", "--calib-len", "--calib-seed", NULL};

/* Apply argv in one of two passes: pass 0 reads --recipe files, pass 1
 * everything else, so that command-line options override the file. */
static int parse(sc_opts *o, int argc, char **argv, int pass, int *recipe_opts)
{
    int npos = 0;
    const char *pos[3] = {NULL, NULL, NULL};
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (a[0] != '-' || !a[1] || !strcmp(a, "--")) {
            if (!strcmp(a, "--")) {
                while (++i < argc && npos < 3) pos[npos++] = argv[i];
                break;
            }
            if (npos < 3) pos[npos++] = a;
            else return usage("too many arguments ('%s')", a);
            continue;
        }
        char name[64];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) return usage("unknown option '%s'", a);
        memcpy(name, a, nl);
        name[nl] = 0;
        int takes = sc_alloc_is_option(name);
        for (int k = 0; valued[k]; k++) takes |= !strcmp(name, valued[k]);
        if (takes) {
            if (eq) val = eq + 1;
            else if (i + 1 < argc) val = argv[++i];
            else return usage("option %s needs a value", name);
        } else if (eq && strcmp(name, "--zstd") != 0) {
            return usage("option %s takes no value", name);
        }
        slq_error err;
        slq_status st = SLQ_OK;
        if (!strcmp(name, "--recipe")) {
            (*recipe_opts)++;
            if (pass == 0) st = sc_recipe_load(&o->recipe, val, &err);
            if (st) return sc_die("%s", err.msg);
            continue;
        }
        if (pass == 0) continue;
        if (!strcmp(name, "--method") || !strcmp(name, "--bits") ||
            !strcmp(name, "--group-size") || !strcmp(name, "--scale-dtype") ||
            !strcmp(name, "--rotate") || !strcmp(name, "--seed") ||
            !strcmp(name, "--damp") || !strcmp(name, "--sparsity")) {
            st = sc_recipe_set(&o->recipe, name + 2, val, &err);
            (*recipe_opts)++;
        } else if (!strcmp(name, "--sym") || !strcmp(name, "--asym") ||
                   !strcmp(name, "--no-clip-search") || !strcmp(name, "--clip-search") ||
                   !strcmp(name, "--act-order") || !strcmp(name, "--no-act-order")) {
            st = sc_recipe_set(&o->recipe, name + 2, NULL, &err);
            (*recipe_opts)++;
        } else if (!strcmp(name, "--keep")) {
            st = sc_recipe_add_keep(&o->recipe, val, &err);
            (*recipe_opts)++;
        } else if (!strcmp(name, "--bits-for")) {
            st = sc_recipe_add_bits_for(&o->recipe, val, &err);
            (*recipe_opts)++;
        } else if (!strcmp(name, "--calib")) {
            o->calib.text = val;
            o->alloc.calib = val; /* the same text serves the allocation */
            o->calib.tokens = NULL;
        } else if (!strcmp(name, "--calib-tokens")) {
            o->calib.tokens = val;
            o->calib.text = NULL;
            o->alloc.calib = NULL; /* the allocation needs text windows */
        } else if (!strcmp(name, "--calib-samples") || !strcmp(name, "--calib-len") ||
                   !strcmp(name, "--calib-seed")) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(val, &end, 10);
            int seed = name[8] == 's' && name[9] == 'e';
            if (!*val || *val == '-' || *end || errno || (!seed && (v < 1 || v > 1000000)))
                return usage(seed ? "--calib-seed '%s' must be a whole number"
                                  : "%s must be a whole number from 1 to 1000000", seed ? val : a);
            if (seed) o->calib.seed = v;
            else if (name[8] == 's') o->calib.samples = (size_t)v;
            else o->calib.len = (size_t)v;
        } else if (sc_alloc_is_option(name)) {
            st = sc_alloc_set(&o->alloc, name, val, &err);
        } else if (!strcmp(name, "--dry-run")) o->dry_run = 1;
        else if (!strcmp(name, "--json")) o->json = 1;
        else if (!strcmp(name, "--quiet")) o->quiet = 1;
        else if (!strcmp(name, "--progress")) o->progress = 1;
        else if (!strcmp(name, "--zstd")) {
            o->zstd = 3;
            if (eq) {
                char *end;
                long v = strtol(eq + 1, &end, 10);
                if (!eq[1] || *end || v < 1 || v > 19)
                    return usage("--zstd level '%s' must be 1..19", eq + 1);
                o->zstd = (int)v;
            }
        } else if (!strcmp(name, "--threads")) {
            char *end;
            long v = strtol(val, &end, 10);
            if (!*val || *end || v < 1 || v > 256)
                return usage("--threads '%s' must be a whole number from 1 to 256", val);
            o->threads = (unsigned)v;
        } else if (!strcmp(name, "--to")) {
            if (strcmp(val, "safetensors") != 0)
                return usage("--to '%s': the only export format is safetensors", val);
            o->to = val;
        } else if (!strcmp(name, "--dtype")) {
            if (strcmp(val, "f32") && strcmp(val, "f16") && strcmp(val, "bf16"))
                return usage("--dtype '%s' must be f32, f16 or bf16", val);
            o->dtype = val;
        } else {
            return usage("unknown option '%s'", a);
        }
        if (st) return usage("%s", err.msg);
    }
    if (pass == 1) {
        if (npos > 2) return usage("too many arguments ('%s')", pos[2]);
        o->in = pos[0];
        o->out = pos[1];
    }
    return 0;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--")) break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help_text, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("slqconv %s\n", slq_version());
            return 0;
        }
    }
    sc_cleanup_install(); /* temporary outputs go away on SIGINT/SIGTERM/SIGHUP */
    sc_opts o;
    memset(&o, 0, sizeof o);
    sc_recipe_init(&o.recipe);
    sc_alloc_opts_init(&o.alloc);
    o.progress = -1;
    o.calib.samples = 128;
    long nc = sysconf(_SC_NPROCESSORS_ONLN);
    o.threads = nc > 0 ? (unsigned)(nc > 256 ? 256 : nc) : 1;
    o.argc = argc;
    o.argv = argv;
    int recipe_opts = 0, rc;
    if ((rc = parse(&o, argc, argv, 0, &recipe_opts)) != 0) goto done;
    recipe_opts = 0;
    if ((rc = parse(&o, argc, argv, 1, &recipe_opts)) != 0) goto done;
    sc_recipe_finish(&o.recipe);
    if (!o.in) {
        rc = usage("%s", "missing INPUT");
        goto done;
    }
    if (o.to) {
        if (recipe_opts || o.dry_run || o.zstd) {
            rc = usage("%s", "recipe options, --dry-run and --zstd do not apply to --to export");
            goto done;
        }
        if (!o.out) {
            rc = usage("%s", "missing OUTPUT for --to safetensors");
            goto done;
        }
        rc = sc_export(&o);
    } else {
        if (o.dtype) {
            rc = usage("%s", "--dtype applies only to --to safetensors");
            goto done;
        }
        if (!o.out && !o.dry_run) {
            rc = usage("%s", "missing OUTPUT.slq");
            goto done;
        }
        rc = sc_convert(&o);
    }
done:
    sc_recipe_free(&o.recipe);
    return rc;
}
