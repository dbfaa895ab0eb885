# spec: see Makefile.am
