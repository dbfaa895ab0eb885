# verify: see Makefile.am
