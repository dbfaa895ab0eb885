# verify/cli.mk - metrics library, slqverify and slqrun (filled in below).
