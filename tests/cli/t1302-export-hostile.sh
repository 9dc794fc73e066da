#!/bin/sh
# t1302-export-hostile.sh - exports that hostile inputs used to break: a
# manifest id of 255 bytes (the most segments ingest takes) exports with
# log-mel and as the source of mixes, its tar members named in full (pax path
# records) for Python's tarfile and GNU tar; --out never deletes or overwrites
# files the tool did not write: a non-empty folder that holds no earlier
# export (or one of a review page, or a list naming files outside) is refused
# untouched, and a rerun into an earlier export's folder removes only that
# export's stale files.
. "$(dirname "$0")/../lib/testlib.sh"

cat >"$T/onto.json" <<'J'
[{"id": "/x/a", "name": "Alpha"}, {"id": "/x/b", "name": "Beta"}]
J
printf 'index,mid,display_name\n0,/x/a,Alpha\n1,/x/b,Beta\n' >"$T/labels.csv"
L=$($PY -c 'print("L" * 250 + "-long")')   # 255 bytes
M=$($PY -c 'print("M" * 255)')
{
	echo "path,labels,id,start"
	echo "s01.wav,/x/a,$L,0"
	echo "s02.wav,/x/a,$M,1"
	for i in 03 04 05; do echo "s$i.wav,/x/b,b$i,0"; done
} >"$T/manifest.csv"
for i in 01 02 03 04 05; do
	ffmpeg -nostdin -v error -f lavfi -i "sine=frequency=$((200 + 50 * ${i#0})):duration=1" -ar 16000 "$T/s$i.wav" || exit 1
done
check "init" $AED init
check "ontology" $AED ontology ingest "$T/onto.json" --labels "$T/labels.csv"
check "manifest with 255-byte ids" $AED segments ingest "$T/manifest.csv" --columns path=path,labels=labels,id=id,start=start
check "fetch" $AED fetch -q
check "decode" $AED decode -q --clip-seconds 1
check "features" $AED features -q

# --- long ids: full member names ------------------------------------------------
names() { # TAR: member names by Python's tarfile, then by GNU tar, sorted
	$PY -c 'import sys, tarfile; print("\n".join(sorted(m.name for m in tarfile.open(sys.argv[1]))))' "$1"
	echo "--"
	tar -tf "$1" | sort
}
check "export a 255-byte id with log-mel" $AED export --out "$T/w" --split train=1 --shards-per-split 1 --payload audio,logmel
KL="${L}_0" KM="${M}_1000"
want=$(for k in "$KL" "$KM" b03_0 b04_0 b05_0; do for e in flac json labels.npy logmel.npy; do echo "$k.$e"; done; done | sort)
check_eq "tarfile and GNU tar read every full member name" "$want
--
$want" "$(names "$T/w/train-000000.tar")"
check_eq "its JSON names the full key" "$KL" "$(tar -xOf "$T/w/train-000000.tar" "$KL.json" | $PY -c 'import json,sys; print(json.load(sys.stdin)["key"])')"
check "mixes of two 255-byte ids" $AED export --out "$T/m" --split train=1 --shards-per-split 1 --balance min=3 --mix-augment --payload audio,logmel
mix=$(sql "SELECT key FROM export_sample WHERE export_id = (SELECT max(id) FROM export) AND segment_id IS NULL")
check_eq "the mix's key joins both (522 bytes)" "522" "${#mix}"
check_eq "its members named in full" "$mix.flac $mix.json $mix.labels.npy $mix.logmel.npy" \
	"$($PY -c 'import sys, tarfile; print(" ".join(m.name for m in tarfile.open(sys.argv[1]) if m.name.startswith(sys.argv[2])))' "$T/m/train-000000.tar" "$mix")"
check "python reads the shards back against the database" $PY "$ROOT/tests/py/read_webdataset.py" "$AEDCURATE_DB" "$T/m" --ffmpeg 2
check_grep "one mix among them" '\(1 augmented' "$T/out"

# --- --out: only the tool's own files are deleted or overwritten -------------------
tree() { (cd "$1" && find . -type f | sort | xargs sha256sum); }
mkdir -p "$T/foreign/media"
echo "mine" >"$T/foreign/train-000099.tar"; echo "my notes" >"$T/foreign/README.md"; echo "pic" >"$T/foreign/media/9999.png"
tree "$T/foreign" >"$T/foreign.before"
runs=$(sql "SELECT count(*) FROM run")
check_fail "export into a folder of other files" $AED export --out "$T/foreign" --split train=1
check_eq "refused, naming the folder" "aedcurate: refused: --out $T/foreign is not empty (it holds README.md) and is not an earlier training-export (no .aedcurate-files): aedcurate writes only into an empty or new folder or one of its own exports; nothing was changed" \
	"$(sed "s/(it holds [^)]*)/(it holds README.md)/" "$T/err")"
check_eq "the folder is untouched" "$(cat "$T/foreign.before")" "$(tree "$T/foreign")"
check_eq "no run recorded" "$runs" "$(sql "SELECT count(*) FROM run")"
check_fail "a review page's folder is not a training export's" $AED export --out "$T/foreign" --split train=1
printf 'aedcurate-files 1 review-page\nindex.html\n' >"$T/page-list"
mkdir -p "$T/page" && cp "$T/page-list" "$T/page/.aedcurate-files" && echo x >"$T/page/index.html"
check_fail "export into a review page's folder" $AED export --out "$T/page" --split train=1
check_grep "it says which kind the folder holds" "^aedcurate: .*--out $T/page holds a review-page, not a training-export" "$T/err"
check_eq "the page is untouched" "x" "$(cat "$T/page/index.html")"
# a damaged or hostile list: refused, nothing outside deleted
mkdir -p "$T/evil" && echo victim >"$T/victim"
printf 'aedcurate-files 1 training-export\n../victim\n' >"$T/evil/.aedcurate-files"
check_fail "a list naming a file outside the folder" $AED export --out "$T/evil" --split train=1
check_grep "it names the line" "evil/.aedcurate-files: line 2: not a file name an export writes" "$T/err"
check_eq "the file outside stays" "victim" "$(cat "$T/victim")"

# a rerun into an earlier export: stale shards go, the user's files stay
check "export, shards of 1" $AED export --out "$T/re" --split train=1 --shard-size 1
check_eq "five shards" "5" "$(ls "$T/re" | grep -c '^train-.*\.tar$')"
echo "mine" >"$T/re/train-000099.tar"; echo "notes" >"$T/re/notes.txt"; echo "half" >"$T/re/train-000042.tar.tmp"
check "rerun into it, one shard" $AED export --out "$T/re" --split train=1 --shard-size 1000 --shards-per-split 1
check_eq "its own stale shards are gone, the user's files stay" "notes.txt pos_weight.npy train-000000.tar train-000042.tar.tmp train-000099.tar" \
	"$(ls "$T/re" | grep -v -e json -e csv -e README | tr '\n' ' ' | sed 's/ $//')"
check_eq "the user's shard is untouched" "mine" "$(cat "$T/re/train-000099.tar")"
check_eq "the list names this export's files" "README.md class_counts.csv classes.json index.json manifest.json pos_weight.npy priors.csv train-000000.tar train.wids.json" \
	"$(tail -n +2 "$T/re/.aedcurate-files" | sort | tr '\n' ' ' | sed 's/ $//')"
done_testing
