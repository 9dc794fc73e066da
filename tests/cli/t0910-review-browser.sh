#!/bin/sh
# t0910-review-browser.sh - the review page end to end in headless Chromium:
# a real corpus mined for Music, `review export`, web/tests/review.mjs rating
# by keyboard from file:// (label autocomplete, reload, export download,
# hostile ontology text), then `review import` must store exactly the ratings
# the browser entered, the label added on the page must be a label of its
# clip (source review, by the page's annotator) and `export` must write it
# into that clip's JSON. Keeps a screenshot in build/screenshots/.
# Needs node, web/node_modules (make deps) and chromium; skipped without them.
. "$(dirname "$0")/../lib/testlib.sh"
EVAL=$SHARED/data/audio/audioset-eval
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$AUDIOSET/ontology.json" "$EVAL/labels.csv" "$MODEL"
CHROMIUM=${AEDCURATE_CHROMIUM:-/usr/bin/chromium}
for need in "$ROOT/web/node_modules/playwright-core/package.json" "$CHROMIUM"; do
	if [ ! -e "$need" ]; then skip_all "$need not present (make deps)"; fi
done
if ! command -v node >/dev/null 2>&1; then skip_all "node not installed (make deps)"; fi

$PY - "$AUDIOSET/ontology.json" "$T/ontology.json" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
for c in o:
    if c["id"] == "/m/04rlf":
        c["child_ids"] += ["/t/hostile1", "/t/hostile2"]
o.append({"id": "/t/hostile1", "name": "<img src=x onerror=alert(1)>",
          "description": "</script><script>window.__pwned=1</script><img src=x onerror=alert(2)> & \u2028 <!--",
          "citation_uri": "", "positive_examples": [], "child_ids": [], "restrictions": []})
o.append({"id": "/t/hostile2", "name": "<img src=y onerror=alert(3)>", "description": "",
          "citation_uri": "", "positive_examples": [], "child_ids": [], "restrictions": []})
json.dump(o, open(sys.argv[2], "w"))
EOF
{ head -1 "$EVAL/labels.csv"; sed -n 2,11p "$EVAL/labels.csv"; } | sed "s#^\([^,]*\.m4a\)#$EVAL/\1#" >"$T/m.csv"
check "a corpus: ontology with a hostile class, 10 real clips, embedded and indexed" sh -c "
	$AED -q init && $AED -q ontology ingest '$T/ontology.json' &&
	$AED -q segments ingest '$T/m.csv' --columns path=file,id=ytid,start=start_seconds,end=end_seconds,labels=positive_labels &&
	$AED -q fetch && $AED -q decode && $AED -q features && $AED -q embed --model '$MODEL' && $AED -q index build"
check "mine Music" $AED mine --class Music --exemplar Z19W44ZI15Q_190000 --exemplar gEv1C2GKNno_0 --min-exemplars 1 -k 6
check "export the page" $AED review export --class Music --out "$T/page"
check "mine the hostile class" $AED mine --class /t/hostile1 --exemplar YIkaXXmw8ME_0 --min-exemplars 1 -k 2
check "export its page" $AED review export --class /t/hostile1 --out "$T/hostile"

# The browser part prints its own ok / not ok lines.
mkdir -p "$ROOT/build/screenshots"
node "$ROOT/web/tests/review.mjs" --page "$T/page" --hostile "$T/hostile" --out "$T/dl" \
	--screenshot "$ROOT/build/screenshots/review.png" --chromium "$CHROMIUM" >"$T/node.out" 2>"$T/err"
rc=$?
cat "$T/node.out"
check_eq "the browser test exits 0" 0 "$rc"

check "import the downloaded ratings" $AED review import "$T/dl/ratings.json"
check_grep "5 new ratings" '1 file, 5 entries: 5 new' "$T/out"
# Exactly what the browser entered, nothing else.
$PY - "$T/dl/expected.json" >"$T/want" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
for r in e["ratings"]:
    print("|".join([r["candidate"], e["annotator"], r["answer"], r.get("comment", ""), ",".join(r.get("labels", []))]))
EOF
sql "SELECT s.key, r.annotator, r.answer, r.comment, coalesce((SELECT group_concat(c.mid) FROM rating_label l JOIN class c ON c.id = l.class_id WHERE l.rating_id = r.id), '')
     FROM rating r JOIN segment s ON s.id = r.segment_id JOIN review_item i ON i.segment_id = r.segment_id AND i.export_id = r.export_id ORDER BY i.ord" >"$T/got"
if [ -s "$T/want" ] && cmp -s "$T/want" "$T/got"; then ok "the database holds exactly the ratings entered in the browser"
else not_ok "the database holds exactly the ratings entered in the browser"; diff "$T/want" "$T/got" | sed 's/^/# /'; fi
check_eq "times are the page's" "$($PY -c 'import json,sys; print(sorted(r["time"] for r in json.load(open(sys.argv[1]))["ratings"]))' "$T/dl/ratings.json")" \
	"$($PY -c 'import sqlite3,sys; print(sorted(r[0] for r in sqlite3.connect(sys.argv[1]).execute("SELECT rated_at FROM rating")))' "$AEDCURATE_DB")"
# The label added on the page ("Add missing labels"): a label of the clip.
$PY - "$T/dl/expected.json" >"$T/added" <<'EOF'
import json, sys
e = json.load(open(sys.argv[1]))
r = [r for r in e["ratings"] if r.get("labels")]
print(r[0]["candidate"] if r else "", r[0]["labels"][0] if r else "")
EOF
read -r key mid <"$T/added"
check_eq "the page added one label" 1 "$([ -n "$mid" ] && echo 1)"
check_eq "it is a label of the clip, source review, by the page's annotator" "review|tester-1" \
	"$(sql "SELECT l.source, (SELECT group_concat(v.annotator) FROM review_label v WHERE v.segment_id = l.segment_id AND v.class_id = l.class_id)
	        FROM label l JOIN segment s ON s.id = l.segment_id JOIN class c ON c.id = l.class_id
	        WHERE s.key = '$key' AND c.mid = '$mid' AND l.source = 'review'")"
check "export the corpus" $AED export --out "$T/shards" --seed 1
shard=$(sql "SELECT e.split || '-' || printf('%06d', e.shard) FROM export_sample e JOIN segment s ON s.id = e.segment_id WHERE s.key = '$key' AND e.export_id = (SELECT max(id) FROM export)")
tar -xOf "$T/shards/$shard.tar" "$key.json" >"$T/clip.json" 2>"$T/err"
check_eq "export's JSON of that clip holds the added label, source review" "True True" \
	"$($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); m=sys.argv[2]; print(m in j["mids"], "review" in j["label_sources"].get(m, []))' "$T/clip.json" "$mid" 2>&1)"
check "status after the import" $AED review status --class Music
check_grep "rated 5: 2 present, 1 not present, 1 unsure, 1 not acoustic; precision 2/4" '^1 +/m/04rlf +Music +6 +5 +2 +1 +1 +1 +0\.500' "$T/out"
if [ -s "$ROOT/build/screenshots/review.png" ]; then ok "screenshot kept in build/screenshots/review.png"; else not_ok "screenshot kept"; fi
done_testing
