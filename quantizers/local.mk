# quantizers: see Makefile.am
