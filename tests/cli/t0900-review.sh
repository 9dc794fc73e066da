#!/bin/sh
# t0900-review.sh - `review export/import/status` on a real corpus: 10 AudioSet
# eval clips decoded, embedded with YAMNet and mined for Music. Checks the
# export folder (page, data file safe inside <script>, Ogg Opus clips, PNG
# log-mels, checksum), imports with several annotators (majority, ties,
# agreement, newer and older answers, idempotence), every rejection with its
# reason and the database unchanged for it (a Not present answer that adds
# the class judged as a label among them), labels annotators add becoming
# labels of the clip (source review), the status table, verified positives
# and added labels as exemplars of the next mining round, and a hostile class
# name.
. "$(dirname "$0")/../lib/testlib.sh"
EVAL=$SHARED/data/audio/audioset-eval
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$AUDIOSET/ontology.json" "$EVAL/labels.csv" "$MODEL"

# A copy of the ontology with a hostile class under Music.
$PY - "$AUDIOSET/ontology.json" "$T/ontology.json" <<'EOF'
import json, sys
o = json.load(open(sys.argv[1]))
for c in o:
    if c["id"] == "/m/04rlf":
        c["child_ids"].append("/t/hostile1")
o.append({"id": "/t/hostile1", "name": "<img src=x onerror=alert(1)>",
          "description": "</script><script>window.__pwned=1</script> & \u2028 <!-- x",
          "citation_uri": "", "positive_examples": [], "child_ids": [], "restrictions": []})
json.dump(o, open(sys.argv[2], "w"))
EOF
{ head -1 "$EVAL/labels.csv"; sed -n 2,11p "$EVAL/labels.csv"; } | sed "s#^\([^,]*\.m4a\)#$EVAL/\1#" >"$T/m.csv"
check "init" $AED init
check "ontology with a hostile class" $AED ontology ingest "$T/ontology.json"
check "10 real clips" $AED segments ingest "$T/m.csv" --columns path=file,id=ytid,start=start_seconds,end=end_seconds,labels=positive_labels
check "fetch, decode, features, embed, index" sh -c "$AED -q fetch && $AED -q decode && $AED -q features && $AED -q embed --model '$MODEL' && $AED -q index build"
check "mine Music from two exemplars" $AED mine --class Music --exemplar Z19W44ZI15Q_190000 --exemplar gEv1C2GKNno_0 --min-exemplars 1 -k 8
check_eq "8 candidates queued" 8 "$(sql 'SELECT count(*) FROM candidate WHERE mine_run_id = 1')"

# --- export ------------------------------------------------------------------
check_fail "export needs --out" $AED review export --class Music
check_fail "export of a class never mined" $AED review export --class Guitar --out "$T/x"
check_grep "says to mine first" 'no mine run' "$T/err"
check_fail "export of an unknown run" $AED review export --run 99 --out "$T/x"
check "export 6 candidates" $AED review export --class Music --out "$T/page" --limit 6
check_grep "summary" 'exported 6 candidates of mine run 1 \(/m/04rlf\)' "$T/out"
for f in index.html app.js style.css candidates.js; do
	if [ -s "$T/page/$f" ]; then ok "page file $f"; else not_ok "page file $f"; fi
done
check_eq "6 clips and 6 images" "6 6" "$(ls "$T/page/media/"*.ogg | wc -l) $(ls "$T/page/media/"*.png | wc -l)"
check_eq "clips are Opus in Ogg, mono" "opus,1" "$(ffprobe -v error -select_streams a:0 -show_entries stream=codec_name,channels -of csv=p=0 "$T/page/media/0001.ogg")"
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$T/page/media/0002.ogg")
check_eq "a 10 s clip's context lasts 10 s" 1 "$($PY -c "print(int(abs($dur - 10.0) < 0.05))")"
check_eq "images are PNG" "89504e47" "$(head -c 4 "$T/page/media/0001.png" | od -An -tx1 | tr -d ' \n')"
check_eq "the data file has no raw < > &" 0 "$(tr -cd '<>&' <"$T/page/candidates.js" | wc -c)"
# The data file against the database, independently.
$PY - "$T/page/candidates.js" "$AEDCURATE_DB" >"$T/data.out" 2>&1 <<'EOF'
import hashlib, json, sqlite3, sys
text = open(sys.argv[1], encoding="utf-8").read()
start = text.index("window.AED_DATA = ") + len("window.AED_DATA = ")
d = json.loads(text[start:text.rindex(";")])
db = sqlite3.connect(sys.argv[2])
rows = db.execute("SELECT s.key, k.rank, k.best_time_s FROM candidate k JOIN segment s ON s.id = k.segment_id "
                  "WHERE k.mine_run_id = 1 ORDER BY k.rank LIMIT 6").fetchall()
print("ids", [c["id"] for c in d["candidates"]] == [r[0] for r in rows])
print("best", all(abs(c["best_time_s"] - r[2]) < 1e-9 and c["offset_s"] + c["best_start_s"] == c["best_time_s"] for c, r in zip(d["candidates"], rows)))
ids = sorted(c["id"] for c in d["candidates"])
want = hashlib.sha256(("aedcurate-review-v1\n/m/04rlf\n" + "".join(i + "\n" for i in ids)).encode()).hexdigest()
print("checksum", d["checksum"] == want)
print("class", d["class"]["mid"], d["class"]["name"], d["class"]["path"])
print("ontology", len(d["ontology"]))
e = db.execute("SELECT export_id, checksum, n_candidates FROM review_export").fetchone()
print("recorded", e == (d["export_id"], d["checksum"], 6))
EOF
check_grep "candidates in rank order" '^ids True$' "$T/data.out"
check_grep "best patch times" '^best True$' "$T/data.out"
check_grep "checksum over the sorted ids" '^checksum True$' "$T/data.out"
check_grep "class, name and path" "^class /m/04rlf Music \['Music'\]$" "$T/data.out"
check_grep "the whole ontology for the autocomplete" '^ontology 633$' "$T/data.out"
check_grep "the export is recorded" '^recorded True$' "$T/data.out"
check_eq "6 exported items" 6 "$(sql 'SELECT count(*) FROM review_item')"
check_eq "a review-export run" "ok|6" "$(sql "SELECT outcome, n_done FROM run WHERE stage = 'review-export'")"

# --- ratings files -----------------------------------------------------------
# mk FILE ANNOTATOR TIME ENTRY...: ENTRY is N=ANSWER[=MID+MID][=COMMENT], N the
# 1-based candidate, or @ID for a literal id; ^TIME after it overrides TIME. Env: EXPORT_ID, CHECKSUM,
# CLASS, VERSION override the header; TRUNCATE=n cuts the file to n bytes.
mk() {
	$PY - "$T/page/candidates.js" "$@" <<'EOF'
import json, os, sys
text = open(sys.argv[1], encoding="utf-8").read()
d = json.loads(text[text.index("= ") + 2:text.rindex(";")])
out, who, when = sys.argv[2:5]
ratings = []
for spec in sys.argv[5:]:
    spec, _, t = spec.partition("^")
    parts = spec.split("=")
    cid = parts[0][1:] if parts[0].startswith("@") else d["candidates"][int(parts[0]) - 1]["id"]
    e = {"candidate": cid, "answer": parts[1], "time": t or when}
    if len(parts) > 2 and parts[2]:
        e["labels"] = parts[2].split("+")
    if len(parts) > 3:
        e["comment"] = parts[3]
    ratings.append(e)
f = {"format": "aedcurate-ratings", "version": int(os.environ.get("VERSION", 1)),
     "export_id": os.environ.get("EXPORT_ID", d["export_id"]),
     "checksum": os.environ.get("CHECKSUM", d["checksum"]),
     "class": os.environ.get("CLASS", d["class"]["mid"]),
     "annotator": who, "exported_at": when, "ratings": ratings}
s = json.dumps(f, indent=1)
if "TRUNCATE" in os.environ:
    s = s[:int(os.environ["TRUNCATE"])]
open(out, "w").write(s)
EOF
}
# Everything import may write, for before/after comparisons.
dump() {
	sql "SELECT * FROM rating ORDER BY id; SELECT * FROM rating_label ORDER BY rating_id, class_id;
	     SELECT class_id, segment_id, decision, n_ratings, agreement FROM review_decision ORDER BY 1, 2;
	     SELECT * FROM label WHERE source IN ('verified', 'review') ORDER BY 1, 2, 3;
	     SELECT id, export_id, path, n_new, n_updated, n_same, n_bad FROM review_import ORDER BY id;
	     SELECT count(*) FROM run;"
}
seg() { sql "SELECT segment_id FROM review_item WHERE ord = $1 - 1"; }
music=$(sql "SELECT id FROM class WHERE mid = '/m/04rlf'")
guitar=$(sql "SELECT id FROM class WHERE mid = '/m/0342h'")
# review_labels: "segment:mid:annotators" of every label of source review.
review_labels() {
	sql "SELECT l.segment_id || ':' || c.mid || ':' || coalesce((SELECT group_concat(annotator) FROM
	       (SELECT DISTINCT annotator FROM review_label v WHERE v.segment_id = l.segment_id AND
	        v.class_id = l.class_id ORDER BY annotator)), '')
	     FROM label l JOIN class c ON c.id = l.class_id WHERE l.source = 'review' ORDER BY 1" | tr '\n' ' ' | sed 's/ $//'
}

mk "$T/alice.json" alice 2026-11-21T10:00:00.000Z "1=present" "2=not_present=/m/0342h=sounds like a guitar" "3=unsure" "4=not_acoustic"
check "import alice's 4 ratings" $AED review import "$T/alice.json"
check_grep "4 new" '4 entries: 4 new, 0 updated, 0 unchanged' "$T/out"
check_eq "4 ratings stored with annotator and time" "4|alice|2026-11-21T10:00:00.000Z" "$(sql 'SELECT count(*), min(annotator), max(rated_at) FROM rating')"
check_eq "answers by candidate" "1|present 2|not_present 3|unsure 4|not_acoustic" \
	"$(sql 'SELECT i.ord + 1, r.answer FROM rating r JOIN review_item i ON i.segment_id = r.segment_id ORDER BY i.ord' | tr '\n' ' ' | sed 's/ $//')"
check_eq "the comment is kept" "sounds like a guitar" "$(sql "SELECT comment FROM rating WHERE segment_id = $(seg 2)")"
check_eq "added labels are kept" "/m/0342h" "$(sql "SELECT c.mid FROM rating_label l JOIN class c ON c.id = l.class_id ORDER BY c.mid" | tr '\n' ' ' | sed 's/ $//')"
check_grep "the import counts the added label" '^1 label added by annotators \(source review\)$' "$T/out"
s2=$(seg 2)
check_eq "the added label is a label of the clip, source review, by alice" "$s2:/m/0342h:alice" "$(review_labels)"
check "segments list shows it" $AED segments list --class Guitar
check_grep "the clip is listed with Guitar among its labels" "^$(sql "SELECT key FROM segment WHERE id = $(seg 2)")	.*/m/0342h" "$T/out"
check "segments list --json" $AED --json segments list --class Guitar
check_eq "with the label's sources and who added it" "[['review'], ['alice']]" \
	"$($PY -c 'import json,sys; x=[x for x in json.load(open(sys.argv[1])) if x["key"] == sys.argv[2]][0]; print([x["label_sources"]["/m/0342h"], x["added_by"]["/m/0342h"]])' "$T/out" "$(sql "SELECT key FROM segment WHERE id = $s2")")"
check_eq "the present one is a verified label" "$(seg 1)" "$(sql "SELECT segment_id FROM label WHERE source = 'verified' AND class_id = $music")"
check_eq "the not-present one is a hard negative" "$(seg 2)" "$(sql "SELECT segment_id FROM hard_negative")"
dump >"$T/before"
check "importing the same file again" $AED review import "$T/alice.json"
check_grep "reported unchanged" '0 new, 0 updated, 4 unchanged' "$T/out"
dump >"$T/after"
check "the second import changed nothing (not even a run row)" cmp -s "$T/before" "$T/after"

# A second annotator: majority and ties.
mk "$T/bob.json" bob 2026-11-21T10:05:00.000Z "1=present" "2=present" "3=not_present" "5=present"
check "import bob's ratings" $AED review import "$T/bob.json"
check_grep "agreement reported" 'several annotators, mean agreement 0\.67, 2 ties' "$T/out"
check_eq "all ratings kept" 8 "$(sql 'SELECT count(*) FROM rating')"
check_eq "two presents: present, agreement 1" "present|2|1.0" "$(sql "SELECT decision, n_ratings, agreement FROM review_decision WHERE segment_id = $(seg 1)")"
check_eq "present vs not present: a tie is unsure" "unsure|0.5" "$(sql "SELECT decision, agreement FROM review_decision WHERE segment_id = $(seg 2)")"
check_eq "unsure vs not present: unsure" "unsure" "$(sql "SELECT decision FROM review_decision WHERE segment_id = $(seg 3)")"
check_eq "no hard negative left" 0 "$(sql 'SELECT count(*) FROM hard_negative')"
check_eq "verified labels: candidates 1 and 5" "$(printf '%s\n' "$(seg 1)" "$(seg 5)" | sort -n | tr '\n' ' ' | sed 's/ $//')" "$(sql "SELECT segment_id FROM label WHERE source = 'verified' ORDER BY segment_id" | tr '\n' ' ' | sed 's/ $//')"
mk "$T/carol.json" carol 2026-11-21T10:06:00.000Z "2=not_present"
check "a third annotator breaks the tie" $AED review import "$T/carol.json"
check_eq "2 of 3 say not present" "not_present|3" "$(sql "SELECT decision, n_ratings FROM review_decision WHERE segment_id = $(seg 2)")"
check_eq "a hard negative again" "$(seg 2)" "$(sql 'SELECT segment_id FROM hard_negative')"

# Newer answers replace older ones; older ones are ignored.
A=2026-11-21T10:00:00.000Z
mk "$T/alice2.json" alice 2026-11-21T11:00:00.000Z "1=present^$A" "2=not_present=/m/0342h=sounds like a guitar^$A" "3=unsure^$A" "4=present"
check "alice's later file" $AED review import "$T/alice2.json"
check_grep "one updated" '1 updated, 3 unchanged' "$T/out"
check_eq "the newer answer is stored" "present|2026-11-21T11:00:00.000Z" "$(sql "SELECT answer, rated_at FROM rating WHERE annotator = 'alice' AND segment_id = $(seg 4)")"
mk "$T/alice0.json" alice 2026-11-21T09:00:00.000Z "4=unsure"
check "an older file" $AED review import "$T/alice0.json"
check_grep "older than stored" '1 older than stored' "$T/out"
check_eq "the older answer is not stored" present "$(sql "SELECT answer FROM rating WHERE annotator = 'alice' AND segment_id = $(seg 4)")"

# Two imports of the same new file at once: each rating is stored once.
mk "$T/frank.json" frank 2026-11-21T10:07:00.000Z "1=present" "2=not_present" "3=present" "4=unsure"
$AED review import "$T/frank.json" >"$T/f1.out" 2>&1 &
p1=$!
$AED review import "$T/frank.json" >"$T/f2.out" 2>&1
rc2=$?
wait $p1
check_eq "two concurrent imports both succeed" "0 0" "$? $rc2"
check_eq "frank's 4 ratings stored once" 4 "$(sql "SELECT count(*) FROM rating WHERE annotator = 'frank'")"
check_eq "4 new in total, the rest unchanged" "4 4" "$(cat "$T/f1.out" "$T/f2.out" | sed -n 's/.*: \([0-9]*\) new, [0-9]* updated, \([0-9]*\) unchanged.*/\1 \2/p' | awk '{n += $1; u += $2} END {print n, u}')"

# Added labels follow the annotator's latest answer; a label another
# annotator added stays.
mk "$T/gina.json" gina 2026-11-21T10:08:00.000Z "5=present=/m/0342h" "2=not_present=/m/0342h"
check "gina adds Guitar to candidates 5 and 2" $AED review import "$T/gina.json"
check_eq "Guitar on 2 (alice, gina) and 5 (gina)" "$(seg 2):/m/0342h:alice,gina $(seg 5):/m/0342h:gina" "$(review_labels)"
mk "$T/gina2.json" gina 2026-11-21T10:09:00.000Z "5=present" "2=not_present"
check "gina's later file takes both labels back" $AED review import "$T/gina2.json"
check_eq "Guitar stays on 2 (alice), not on 5" "$(seg 2):/m/0342h:alice" "$(review_labels)"

# --- rejections: a reason each, nothing stored for them ---------------------
# Not present for the class judged, yet that class added as a missing label:
# refused, and the database is byte for byte what it was.
dumpsum() { sqlite3 "$AEDCURATE_DB" .dump | sha256sum; }
sum0=$(dumpsum)
mk "$T/contra.json" dave 2026-11-21T12:00:00.000Z "6=not_present=/m/0342h+/m/04rlf"
check_fail "Not present with the class judged added as a label" $AED review import "$T/contra.json"
check_grep "reason: the contradiction" 'contra.json: entry 1 \(.*\): answer not_present contradicts the added label /m/04rlf, the class judged' "$T/err"
check_eq "the database is unchanged (.dump checksum)" "$sum0" "$(dumpsum)"
dump >"$T/before"
EXPORT_ID=0123456789abcdef0123456789abcdef mk "$T/other.json" dave 2026-11-21T12:00:00.000Z "6=present"
check_fail "a file from another export" $AED review import "$T/other.json"
check_grep "reason: not our export" 'other.json: export id 0123456789abcdef0123456789abcdef is not an export of this database.*1 entries rejected' "$T/err"
CHECKSUM=$(printf '%064d' 0) mk "$T/tampered.json" dave 2026-11-21T12:00:00.000Z "6=present"
check_fail "a tampered checksum" $AED review import "$T/tampered.json"
check_grep "reason: checksum" 'tampered.json: checksum 0+ does not match' "$T/err"
CLASS=/m/0342h mk "$T/wrongclass.json" dave 2026-11-21T12:00:00.000Z "6=present" "5=present"
check_fail "another class" $AED review import "$T/wrongclass.json"
xid=$(sql "SELECT export_id FROM review_export ORDER BY id LIMIT 1")
check_eq "reason: the file's class and the export's, then the summary" \
	"rejected: $T/wrongclass.json: class /m/0342h is not the class of export $xid (/m/04rlf): all 2 entries rejected
aedcurate: format error: 2 of 2 entries rejected; 1 file rejected whole" "$(cat "$T/err")"
TRUNCATE=200 mk "$T/truncated.json" dave 2026-11-21T12:00:00.000Z "6=present" "5=present"
check_fail "truncated JSON" $AED review import "$T/truncated.json"
check_grep "reason: where it ends" 'truncated.json:[0-9]+:[0-9]+: .*file rejected' "$T/err"
VERSION=2 mk "$T/v2.json" dave 2026-11-21T12:00:00.000Z "6=present"
check_fail "another format version" $AED review import "$T/v2.json"
check_grep "reason: version" 'v2.json: ratings format version 2 is not 1' "$T/err"
mk "$T/unknown.json" dave 2026-11-21T12:00:00.000Z "@NOPE_0=present"
check_fail "an unknown candidate" $AED review import "$T/unknown.json"
check_grep "reason: unknown candidate" 'unknown.json: entry 1 \(NOPE_0\): unknown candidate' "$T/err"
mk "$T/mid.json" dave 2026-11-21T12:00:00.000Z "6=present=/m/nosuchmid"
check_fail "an unknown mid" $AED review import "$T/mid.json"
check_grep "reason: unknown mid" 'mid.json: entry 1 \(.*\): unknown mid "/m/nosuchmid"' "$T/err"
mk "$T/dup.json" dave 2026-11-21T12:00:00.000Z "6=present" "6=not_present"
check_fail "a candidate rated twice" $AED review import "$T/dup.json"
check_grep "reason: duplicate, both entries" 'entry 1 .*rated more than once \(entries 1, 2\)' "$T/err"
check_grep "the second one too" 'entry 2 .*rated more than once' "$T/err"
mk "$T/junk.json" dave 2026-11-21T12:00:00.000Z "6=maybe" "5=present^yesterday"
check_fail "an unknown answer" $AED review import "$T/junk.json"
check_grep "reason: answer" 'entry 1 .*unknown answer "maybe"' "$T/err"
check_grep "reason: time" 'entry 2 .*time "yesterday" is not ISO 8601' "$T/err"
check_fail "--json lists the rejections too" $AED --json review import "$T/dup.json"
check_eq "two rejections in the JSON" "2 2" "$($PY -c 'import json,sys; j=json.load(open(sys.argv[1])); print(j["rejected"], len(j["rejections"]))' "$T/out")"
dump >"$T/after"
check "the database is unchanged by all of them" cmp -s "$T/before" "$T/after"
mk "$T/mixed.json" erin 2026-11-21T12:00:00.000Z "6=present" "@NOPE_0=present" "5=bogus"
check_fail "a file with good and bad entries" $AED review import "$T/mixed.json"
check_grep "the good one is stored" '3 entries: 1 new, .* 2 rejected' "$T/out"
check_eq "the summary: entries rejected, no file" "aedcurate: format error: 2 of 3 entries rejected" "$(tail -n 1 "$T/err")"
check_eq "only the good entry" "1|$(seg 6)" "$(sql "SELECT count(*), max(segment_id) FROM rating WHERE annotator = 'erin'")"

# --- status ------------------------------------------------------------------
check "status" $AED review status --class Music
# decisions: 1 present, 2 not_present, 3 unsure, 4 tie present/not_acoustic ->
# unsure... recomputed below from the table itself.
check_grep "one row for mine run 1" '^1 +/m/04rlf +Music +8 +6 ' "$T/out"
check "status --json" $AED --json review status
want=$(sql "SELECT count(*), sum(decision = 'present'), sum(decision = 'not_present'), sum(decision = 'unsure'), sum(decision = 'not_acoustic') FROM review_decision" | tr '|' ' ')
got=$($PY -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; print(r["rated"], r["present"], r["not_present"], r["unsure"], r["not_acoustic"])' "$T/out")
check_eq "status counts are the decisions" "$want" "$got"
prec=$($PY -c 'import json,sys; r=json.load(open(sys.argv[1]))[0]; j=r["rated"]-r["unsure"]; print(round(r["present"]/j, 6) == round(r["precision"], 6))' "$T/out")
check_eq "precision = present / (rated - unsure)" True "$prec"

check "export only what no import has decided" $AED review export --run 1 --unrated --out "$T/unrated"
check_grep "the 2 undecided candidates of 8" 'exported 2 candidates of mine run 1 ' "$T/out"
check_eq "they are the last two by rank" "7 8" "$(sql "SELECT k.rank FROM review_item i JOIN review_export e ON e.id = i.export_id JOIN candidate k ON k.segment_id = i.segment_id AND k.mine_run_id = 1 WHERE e.out_dir = '$T/unrated' ORDER BY k.rank" | tr '\n' ' ' | sed 's/ $//')"

# --- the next mining round uses the verified positives -----------------------
check "mine Music again, exemplars from review only" $AED mine --class Music --min-exemplars 1 -k 4
check_eq "verified clips are its exemplars" "$(sql "SELECT group_concat(segment_id) FROM (SELECT segment_id FROM label WHERE source = 'verified' AND class_id = $music ORDER BY segment_id)")" \
	"$(sql "SELECT group_concat(segment_id) FROM (SELECT segment_id FROM mine_exemplar WHERE mine_run_id = 2 AND source = 'verified' ORDER BY segment_id)")"
check_eq "reviewed clips are not candidates again" 0 "$(sql 'SELECT count(*) FROM candidate WHERE mine_run_id = 2 AND segment_id IN (SELECT segment_id FROM rating)')"
check "mine Guitar: its only exemplar is the clip alice labelled Guitar" $AED mine --class Guitar --min-exemplars 1 -k 2
check_eq "the added label is a verified exemplar" "$s2|verified" "$(sql "SELECT group_concat(segment_id), group_concat(DISTINCT source) FROM mine_exemplar WHERE mine_run_id = 3")"
check_eq "and not a candidate" 0 "$(sql "SELECT count(*) FROM candidate WHERE mine_run_id = 3 AND segment_id = $s2")"

# A new export into the same folder replaces the page and leaves no stale media,
# but files it did not write stay (a user's notes, media/9999.png).
echo "my notes" >"$T/page/README.md"
echo "my picture" >"$T/page/media/9999.png"
check "export the latest Music run into the same folder, 2 candidates" $AED review export --class Music --out "$T/page" --limit 2
check_grep "the latest run: mine run 2" 'exported 2 candidates of mine run 2 ' "$T/out"
check_eq "2 clips and 2 images of the page left, and the user's picture" "2 3" "$(ls "$T/page/media/"*.ogg | wc -l) $(ls "$T/page/media/"*.png | wc -l)"
check_eq "the user's files are untouched" "my notes my picture" "$(cat "$T/page/README.md" "$T/page/media/9999.png" | tr '\n' ' ' | sed 's/ $//')"
check_eq "the page's file list names its own files only" "aedcurate-files 1 review-page
app.js candidates.js index.html media/0001.ogg media/0001.png media/0002.ogg media/0002.png style.css" \
	"$(head -n 1 "$T/page/.aedcurate-files")
$(tail -n +2 "$T/page/.aedcurate-files" | sort | tr '\n' ' ' | sed 's/ $//')"

# A folder of other files is refused untouched: no page, no run.
mkdir -p "$T/mine/media"
echo "train" >"$T/mine/train-000099.tar"; echo "notes" >"$T/mine/README.md"; echo "pic" >"$T/mine/media/9999.png"
(cd "$T/mine" && find . -type f | sort | xargs sha256sum) >"$T/mine.before"
runs=$(sql "SELECT count(*) FROM run")
check_fail "review export into a folder of other files" $AED review export --class Music --out "$T/mine" --limit 2
check_grep "it names the folder and says why" "^aedcurate: .*--out $T/mine is not empty \(it holds .*\) and is not an earlier review-page" "$T/err"
check_eq "the folder is untouched" "$(cat "$T/mine.before")" "$(cd "$T/mine" && find . -type f | sort | xargs sha256sum)"
check_eq "no run recorded" "$runs" "$(sql "SELECT count(*) FROM run")"

# --- a hostile class name stays data -----------------------------------------
check "mine the hostile class" $AED mine --class /t/hostile1 --exemplar YIkaXXmw8ME_0 --min-exemplars 1 -k 3
check "export it" $AED review export --class /t/hostile1 --out "$T/hostile"
check_eq "no raw < > & in its data file" 0 "$(tr -cd '<>&' <"$T/hostile/candidates.js" | wc -c)"
check_grep "escaped as \\u003c" 'u003cimg src=x onerror=alert\(1\)\\u003e' "$T/hostile/candidates.js"
check_grep "U+2028 escaped" '\\u2028' "$T/hostile/candidates.js"
name=$($PY -c 'import json,sys; t=open(sys.argv[1]).read(); print(json.loads(t[t.index("= ")+2:t.rindex(";")])["class"]["name"])' "$T/hostile/candidates.js")
check_eq "the name survives exactly" "<img src=x onerror=alert(1)>" "$name"
done_testing
