# converters: see Makefile.am
