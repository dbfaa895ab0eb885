#!/bin/sh
# texts.sh OUTDIR - write the project's calibration and evaluation texts.
#
# ../shared/data/ holds no text yet, so both come from Debian packages and
# are kept apart by source, never by splitting one document:
#   OUTDIR/calib.txt  calibration: software licenses (base-files, always present)
#   OUTDIR/eval.txt   evaluation: English prose and quotations from the
#                     `fortunes` package (apt-get install fortunes)
#   OUTDIR/calib_prose.txt  calibration in the evaluation's genre: other
#                     fortune files (work, politics, art, law), without any
#                     entry that also occurs in the evaluation files
# GPTQ calibrated on licenses keeps little of its gain on prose
# (bench/results/smollm2_issue7.md, "calibration domain"), hence the second set.
# Exits 77 (skip) when the fortunes data is missing, 1 on other errors.
set -eu
out=${1:?usage: texts.sh OUTDIR}
lic=/usr/share/common-licenses
fort=/usr/share/games/fortunes
mkdir -p "$out"
for f in GPL-3 Apache-2.0 MPL-2.0 GFDL-1.3 Artistic LGPL-2.1; do
  [ -r "$lic/$f" ] || { echo "texts.sh: missing $lic/$f (package base-files)" >&2; exit 1; }
done
cat "$lic/GPL-3" "$lic/Apache-2.0" "$lic/MPL-2.0" "$lic/GFDL-1.3" "$lic/Artistic" \
    "$lic/LGPL-2.1" > "$out/calib.txt.tmp"
mv "$out/calib.txt.tmp" "$out/calib.txt"
if [ ! -r "$fort/literature" ]; then
  echo "texts.sh: evaluation text needs the fortunes package (apt-get install fortunes)" >&2
  exit 77
fi
# Fortune files separate entries with lines holding a single '%'.
evalf="$fort/literature $fort/wisdom $fort/education $fort/science $fort/people"
cat $evalf | grep -v '^%$' > "$out/eval.txt.tmp"
mv "$out/eval.txt.tmp" "$out/eval.txt"
# Entries (joined lines) of the evaluation files first, then the calibration
# files' entries that are not among them.
awk -v n=5 '
  function flush() { if (e != "") { if (ev) seen[e] = 1; else if (!(e in seen)) printf "%s", e } e = "" }
  FNR == 1 { flush(); f++; ev = f <= n }
  /^%$/ { flush(); next }
  { e = e $0 "\n" }
  END { flush() }' $evalf "$fort/work" "$fort/politics" "$fort/art" "$fort/law" \
  > "$out/calib_prose.txt.tmp"
mv "$out/calib_prose.txt.tmp" "$out/calib_prose.txt"
