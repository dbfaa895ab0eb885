/* slqgen_text.h - built-in training text for slqgen's tokenizer. */
#ifndef SLQGEN_TEXT_H
#define SLQGEN_TEXT_H

extern const char sg_builtin_text[];

#endif
