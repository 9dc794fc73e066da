#!/bin/sh
# t0001-layers.sh - the source tree keeps its floors: main → cmd → stage →
# store/audio/nn/search/format/net → util. A lower layer never includes a
# stage header (a header declaring a function defined under src/stage/), no
# source file grows past 1,000 lines, and the patch geometry is defined once.
. "$(dirname "$0")/../lib/testlib.sh"
cd "$ROOT" || exit 1

$PY - >"$T/layers" <<'PYEOF'
import glob, os, re
decl = re.compile(r'^[A-Za-z_][\w \t\*]*?\b(aed_\w+)\s*\(', re.M)
defn = re.compile(r'^(?!static\b)[A-Za-z_][\w \t\*]*?\b(aed_\w+)\s*\([^;]*$', re.M)
stage_defs = {}
for f in sorted(glob.glob('src/stage/**/*.c', recursive=True)):
    for m in defn.finditer(open(f, encoding='utf-8').read()):
        stage_defs.setdefault(m.group(1), f)
stage_headers = {}
for h in sorted(glob.glob('include/aedcurate/*.h')):
    names = [n for n in decl.findall(open(h, encoding='utf-8').read()) if n in stage_defs]
    if names:
        stage_headers['aedcurate/' + os.path.basename(h)] = names[0] + ' (' + stage_defs[names[0]] + ')'
print('# stage headers:', ' '.join(sorted(stage_headers)))
inc = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
lower = ('audio', 'format', 'nn', 'net', 'search', 'store', 'util')
for d in lower:
    for f in sorted(glob.glob('src/%s/**/*.[ch]' % d, recursive=True)):
        for m in inc.finditer(open(f, encoding='utf-8').read()):
            if m.group(1) in stage_headers:
                print('VIOLATION %s includes %s, a stage header: %s' % (f, m.group(1), stage_headers[m.group(1)]))
PYEOF
grep '^# ' "$T/layers"
if grep -q VIOLATION "$T/layers"; then
	grep VIOLATION "$T/layers"; not_ok "no lower layer includes a stage header"
else
	ok "no lower layer includes a stage header"
fi

long=$(find src include -name '*.[ch]' -exec wc -l {} + | awk '$2 != "total" && $1 > 1000 { print $2 " (" $1 " lines)" }')
check_eq "no source file over 1,000 lines" "" "$long"

for c in AED_PATCH_HOP_S AED_PATCH_LEN_S; do
	n=$(grep -rE "^\s*#\s*define\s+$c\b" src include | wc -l)
	check_eq "$c defined once" 1 "$n"
done
# Stages after decode are known to it only through the declared inputs
# (stage_input, sql/0014_stage_input.sql), not by name.
later=$(grep -nE '"[^"]*(features_|logmel_|embed|scores)[^"]*"' src/stage/decode.c)
check_eq "decode names no later stage or its arrays" "" "$later"
later=$(grep -nE '"[^"]*(embed|scores)[^"]*"' src/stage/features.c)
check_eq "features names no later stage or its arrays" "" "$later"

done_testing
