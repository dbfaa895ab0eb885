#!/bin/sh
# texts.sh OUTDIR - write the project's calibration and evaluation texts.
#
# ../shared/data/ holds no text yet, so both come from Debian packages and
# are kept apart by source, never by splitting one document:
#   OUTDIR/calib.txt  calibration: software licenses (base-files, always present)
#   OUTDIR/eval.txt   evaluation: English prose and quotations from the
#                     `fortunes` package (apt-get install fortunes)
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
cat "$fort/literature" "$fort/wisdom" "$fort/education" "$fort/science" "$fort/people" \
  | grep -v '^%$' > "$out/eval.txt.tmp"
mv "$out/eval.txt.tmp" "$out/eval.txt"
