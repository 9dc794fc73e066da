#!/bin/sh
# t1210-eval-mine.sh - `eval mine` on a small UrbanSound8K corpus (3 classes,
# 6 recordings each, up to 2 clips a recording, YAMNet): the table and the
# JSON fields, P@10/P@50/AP recomputed from the reported ranking and the
# labels, --exclude-group honoured, the same results for the same --seed,
# the ranking unchanged when every label is deleted (the oracle never ranks),
# and --rounds: a non-decreasing yield curve, the simulated ratings stored in
# the review tables as `review import` stores them, a second simulation
# refused; mine --ranker trained on those ratings (Unsure and Not acoustic left
# out), --no-ranker the old ranking.
. "$(dirname "$0")/../lib/testlib.sh"
US8K=$SHARED/data/audio/urbansound8k
MODEL=$SHARED/models/yamnet/yamnet.tflite
need_shared "$US8K/manifest.csv" "$MODEL" "$AUDIOSET/ontology.json"
command -v ffmpeg >/dev/null || skip_all "no ffmpeg"
export AEDCURATE_MODEL=$MODEL

$PY - "$US8K" "$T/us8k.csv" <<'EOF'
import csv, sys
root, out = sys.argv[1:3]
rows = list(csv.DictReader(open(root + "/manifest.csv")))
keep = []
for cls in ("dog_bark", "siren", "drilling"):
    per = {}
    for r in rows:
        if r["class"] != cls:
            continue
        g = per.setdefault(r["fsID"], [])
        if len(per) <= 6 and len(g) < 2:
            g.append(r)
    for g in list(per.values())[:6]:
        keep += g
w = csv.DictWriter(open(out, "w", newline=""), fieldnames=list(rows[0].keys()))
w.writeheader()
for r in keep:
    r = dict(r); r["file"] = root + "/" + r["file"]; w.writerow(r)
EOF
check "init" $AED init
check "ontology ingest" $AED ontology ingest "$AUDIOSET/ontology.json"
check "ingest the corpus" $AED segments ingest "$T/us8k.csv" --split us8k \
	--columns path=file,labels=audioset_mid,group=fsID
check "fetch" $AED fetch
check "decode (4 s clips)" $AED decode --clip-seconds 4
check "features" $AED features
check "embed" $AED embed
check "index build" $AED index build
N=$(sql "SELECT count(*) FROM segment")
# copy_db PATH: the database (through sqlite3, WAL included) beside the same
# arrays and clips; the index file is found by its recorded path.
copy_db() {
	sqlite3 "$AEDCURATE_DB" ".backup '$1'"
	ln -s "$AEDCURATE_DB.arrays" "$1.arrays"
	ln -s "$AEDCURATE_DB.media" "$1.media"
}
echo "# corpus: $N clips"

# --- usage ------------------------------------------------------------------------
check "eval mine --help" $AED eval mine --help
check_grep "--help lists --rounds" '--rounds' "$T/out"
check_fail "no class given" $AED eval mine
check_grep "it asks for --class or --all-classes" 'all-classes' "$T/err"
check_fail "unknown baseline" $AED eval mine --class Bark --baseline median
check_fail "--exemplar with two classes" $AED eval mine --class Bark --class Siren -e x
check_fail "--exclude-group-verified is refused: no verified exemplars here" $AED eval mine --class Bark \
	--exclude-group --exclude-group-verified
check_grep "it says why" 'never verified clips' "$T/err"

# --- the table --------------------------------------------------------------------
check "eval mine: 3 classes, table" $AED eval mine --all-classes --exemplars 3 --trials 2 \
	--exclude-group --baseline mean
sed 's/^/# /' "$T/out"
check_grep "a row for Bark" '^\| Bark \| 0\.[0-9]+ \| [01]\.[0-9]+ \| [01]\.[0-9]+ \| [01]\.[0-9]+ \| [01]\.[0-9]+ \|' "$T/out"
check_grep "a row for Siren" '^\| Siren \|' "$T/out"
check_grep "a row for Drill" '^\| Drill' "$T/out"
check_grep "the mean row, baseline in the same run" '^\| \*\*mean\*\* \| 0\.[0-9]+ \|( \*\*[01]\.[0-9]+\*\* \|){6}$' "$T/out"
check_eq "nothing written without rounds" 0 "$(sql 'SELECT count(*) FROM mine_run')"

# --- JSON, recomputed from the ranking ------------------------------------------------
check "eval mine --json --rankings" $AED --json eval mine --class Bark --class Siren \
	--exemplars 3 --trials 2 --seed 11 --exclude-group --baseline mean --rankings
cp "$T/out" "$T/a.json"
sql "SELECT s.key, s.source_group, c.mid FROM segment s JOIN label l ON l.segment_id = s.id JOIN class c ON c.id = l.class_id" > "$T/labels.txt"
check "P@10, P@50, AP and the prior agree with the ranking and the labels" $PY - "$T/a.json" "$T/labels.txt" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
lab, grp = {}, {}
for line in open(sys.argv[2]):
    k, g, m = line.rstrip("\n").split("|")
    lab[k] = m; grp[k] = g
def ap(rel):
    h, s = 0, 0.0
    for i, r in enumerate(rel):
        if r:
            h += 1; s += h / (i + 1)
    return s / h if h else None
assert [c["name"] for c in j["classes"]] == ["Bark", "Siren"], j["classes"]
for c in j["classes"]:
    assert len(c["trials"]) == 2
    for t in c["trials"]:
        ex = t["exemplars"]
        assert len(ex) == 3 and len({grp[k] for k in ex}) == 3, ex
        assert all(lab[k] == c["mid"] for k in ex), "exemplars carry the class"
        for key, sc in (("ranking", "method"), ("baseline_ranking", "baseline_mean")):
            rk = t[key]
            assert len(rk) == t["pool"] == len(lab) - sum(grp[k] in {grp[e] for e in ex} for k in lab), (len(rk), t["pool"])
            assert not any(grp[k] in {grp[e] for e in ex} for k in rk), "--exclude-group"
            rel = [lab[k] == c["mid"] for k in rk]
            assert sum(rel) == t["positives"]
            assert abs(t["prior"] - sum(rel) / len(rk)) < 1e-9
            s = t[sc]
            assert abs(s["p10"] - sum(rel[:10]) / 10) < 1e-9, (s, rel[:10])
            assert abs(s["p50"] - sum(rel[:50]) / 50) < 1e-9
            assert abs(s["ap"] - ap(rel)) < 1e-9
    m = c["mean"]
    assert abs(m["p10"] - sum(t["method"]["p10"] for t in c["trials"]) / 2) < 1e-9
for f in ("method", "score", "baseline", "exemplars", "trials", "seed", "exclude_group", "mean",
          "baseline_mean", "prior", "classes"):
    assert f in j, f
print("ok")
EOF

# --- the same seed, the same results ------------------------------------------------
check "the same seed again" $AED --json eval mine --class Bark --class Siren \
	--exemplars 3 --trials 2 --seed 11 --exclude-group --baseline mean --rankings
grep -v '"seconds"' "$T/a.json" > "$T/a1"
grep -v '"seconds"' "$T/out" > "$T/a2"
if cmp -s "$T/a1" "$T/a2"; then ok "identical JSON for --seed 11"; else not_ok "JSON differs for the same seed"; fi
check "Siren alone draws as among two classes" $AED --json eval mine --class Siren \
	--exemplars 3 --trials 2 --seed 11 --exclude-group --rankings
check_eq "same Siren exemplars" \
	"$($PY -c 'import json,sys; print([t["exemplars"] for t in json.load(open(sys.argv[1]))["classes"][1]["trials"]])' "$T/a.json")" \
	"$($PY -c 'import json,sys; print([t["exemplars"] for t in json.load(open(sys.argv[1]))["classes"][0]["trials"]])' "$T/out")"
check "another seed" $AED --json eval mine --class Bark --exemplars 3 --trials 2 --seed 12 \
	--exclude-group
check_eq "other exemplars" 1 "$($PY -c 'import json,sys; a=json.load(open(sys.argv[1]))["classes"][0]["trials"]; b=json.load(open(sys.argv[2]))["classes"][0]["trials"]; print(int([t["exemplars"] for t in a] != [t["exemplars"] for t in b]))' "$T/a.json" "$T/out")"

# --- the oracle never ranks: no labels at all, the same ranking -----------------------
EX=$($PY -c 'import json,sys; print(" ".join("-e " + k for k in json.load(open(sys.argv[1]))["classes"][0]["trials"][1]["exemplars"]))' "$T/a.json")
$PY -c 'import json,sys; t=json.load(open(sys.argv[1]))["classes"][0]["trials"][1]; print("\n".join(t["ranking"] + ["--"] + t["baseline_ranking"]))' "$T/a.json" > "$T/rank.labelled"
copy_db "$T/nolabels.db"
sqlite3 "$T/nolabels.db" "DELETE FROM label"
# shellcheck disable=SC2086
check "the same exemplars on a copy without any label" $AED --db "$T/nolabels.db" --json \
	eval mine --class Bark $EX --exclude-group --baseline mean --rankings
$PY -c 'import json,sys; t=json.load(open(sys.argv[1]))["classes"][0]["trials"][0]; print("\n".join(t["ranking"] + ["--"] + t["baseline_ranking"]))' "$T/out" > "$T/rank.unlabelled"
if [ -s "$T/rank.unlabelled" ] && cmp -s "$T/rank.labelled" "$T/rank.unlabelled"; then
	ok "the same ranking of $(grep -c . "$T/rank.unlabelled") entries, both methods"
else
	not_ok "rankings differ with labels removed"
fi
check_grep "and the oracle found no positive there" '"positives": 0' "$T/out"

# --- rounds: the simulated annotator ----------------------------------------------------
copy_db "$T/rounds.db"
check "--rounds 2 --per-round 5" $AED --db "$T/rounds.db" --json eval mine --class Bark \
	--exemplars 3 --trials 2 --seed 5 --exclude-group --rounds 2 --per-round 5
cp "$T/out" "$T/r.json"
check "yield curves: non-decreasing, at most 5 a round, review and positives-only" $PY - "$T/r.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
c = j["classes"][0]
for t in c["trials"]:
    for k in ("review", "positives"):
        y = t["yield"][k]
        assert len(y) == 2 and 0 <= y[0] <= y[1] <= 10 and y[0] <= 5, (k, y)
        assert all(float(v).is_integer() for v in y)
assert len(j["yield"]["review"]) == 2 and j["yield"]["review"][0] <= j["yield"]["review"][1]
assert j["review_ranker"] is True
print("# yield review", j["yield"]["review"], "positives", j["yield"]["positives"])
EOF
sed -n 's/^# /# /p' "$T/out"
LAST=$($PY -c 'import json,sys; print(int(json.load(open(sys.argv[1]))["classes"][0]["trials"][-1]["yield"]["review"][-1]))' "$T/r.json")
rsql() { sqlite3 -batch -noheader "$T/rounds.db" "$1"; }
check_eq "the last trial's 10 ratings stay, by the simulated annotator" "10 eval-mine-oracle" \
	"$(rsql "SELECT count(*), group_concat(DISTINCT annotator) FROM rating" | tr '|' ' ')"
check_eq "present exactly where the label says so" 0 \
	"$(rsql "SELECT count(*) FROM rating r WHERE (r.answer = 'present') != EXISTS (SELECT 1 FROM label l WHERE l.segment_id = r.segment_id AND l.class_id = r.class_id AND l.source = 'manifest')")"
check_eq "decisions and verified labels as review import makes them" "10 $LAST" \
	"$(rsql "SELECT (SELECT count(*) FROM review_decision), (SELECT count(*) FROM label WHERE source = 'verified')" | tr '|' ' ')"
check_eq "every round imported through review import (4 files, 2 trials x 2 rounds)" "4 4 20" \
	"$(rsql "SELECT count(*), count(DISTINCT export_id), sum(n_new) FROM review_import" | tr '|' ' ')"
check_eq "import runs recorded" 4 "$(rsql "SELECT count(*) FROM run WHERE stage = 'review-import' AND outcome = 'ok'")"
# --exclude-group in the rounds: no clip of the initial exemplars' recordings is
# rated, and clips of the recordings of positives found in a round stay
# candidates for the next (more of a verified recording is what a round should
# find; excluding them as exemplars' recordings left the curves flat).
check "rounds: the initial exemplars' recordings out, the found positives' in" $PY - "$T/r.json" "$T/rounds.db" <<'EOF2'
import json, sqlite3, sys
t = json.load(open(sys.argv[1]))["classes"][0]["trials"][-1]
db = sqlite3.connect(sys.argv[2])
grp = dict(db.execute("SELECT key, source_group FROM segment"))
rated = db.execute("SELECT s.key, r.answer, r.export_id FROM rating r JOIN segment s ON s.id = r.segment_id "
                   "ORDER BY r.export_id, s.key").fetchall()
ex = {grp[k] for k in t["exemplars"]}
assert not [k for k, _, _ in rated if grp[k] in ex], "a clip of an initial exemplar's recording was rated"
first = min(e for _, _, e in rated)
found = {grp[k] for k, a, e in rated if e == first and a == "present"}
later = [k for k, _, e in rated if e != first and grp[k] in found]
print("# round 2 rated %d clip(s) of recordings found in round 1" % len(later))
assert later, "no clip of a recording found in round 1 was rated in round 2"
EOF2
sed -n 's/^# /# /p' "$T/out"
check "review status shows them" $AED --db "$T/rounds.db" review status
check_grep "a rated run" 'Bark' "$T/out"
# The ranker trains on the rounds' own ratings only: a trial never learns from
# ratings already in the database (Bark has 10 now).
rk() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))["classes"][0]["trials"][0]["ranking"][:20])' "$1"; }
check "eval mine on the reviewed class, default" $AED --db "$T/rounds.db" --json eval mine \
	--class Bark --exemplars 3 --trials 1 --seed 5 --rankings
cp "$T/out" "$T/e1.json"
check "and --no-ranker" $AED --db "$T/rounds.db" --json eval mine --class Bark --exemplars 3 \
	--trials 1 --seed 5 --rankings --no-ranker
check_eq "the same ranking: no ranker outside the rounds" "$(rk "$T/e1.json")" "$(rk "$T/out")"
copy_db "$T/nr.db"
check "--rounds --no-ranker" $AED --db "$T/nr.db" eval mine --class Bark --exemplars 3 --trials 1 \
	--seed 5 --rounds 1 --per-round 5 --no-ranker
check_grep "the review curve, ratings only" '\| review r1 \| positives r1 \|' "$T/out"
copy_db "$T/r2.db"
check "--rounds, default" $AED --db "$T/r2.db" eval mine --class Bark --exemplars 3 --trials 1 \
	--seed 5 --rounds 1 --per-round 5
check_grep "the review curve with the ranker" '\| ranker r1 \| positives r1 \|' "$T/out"
check_fail "a second simulation on a reviewed class is refused" $AED --db "$T/rounds.db" \
	eval mine --class Bark --exemplars 3 --trials 1 --rounds 1 --per-round 5
check_grep "it says why" 'already has .* ratings' "$T/err"

# --- the ranker: mine trained on the ratings the rounds left -----------------------------
keys() { $PY -c 'import json,sys; print(" ".join(c["key"] for c in json.load(open(sys.argv[1]))["candidates"]))' "$1"; }
ranked() { $PY -c 'import json,sys; r=json.load(open(sys.argv[1]))["ranker"]; print(int(r["used"]), r["rated_clips"])' "$1"; }
check "mine, default" $AED --db "$T/rounds.db" --json mine --class Bark --k 10
cp "$T/out" "$T/m0.json"
check "mine --no-ranker" $AED --db "$T/rounds.db" --json mine --class Bark --k 10 --no-ranker
check_eq "--no-ranker: the ranker unused" "0 0" "$(ranked "$T/out")"
check "mine --ranker" $AED --db "$T/rounds.db" --json mine --class Bark --k 10 --ranker
cp "$T/out" "$T/m1.json"
check_eq "--ranker: trained on the 10 rated clips" "1 10" "$(ranked "$T/m1.json")"
check_eq "the default is the ranker" "$(keys "$T/m1.json") 1 10" "$(keys "$T/m0.json") $(ranked "$T/m0.json")"
check "mine --ranker again" $AED --db "$T/rounds.db" --json mine --class Bark --k 10 --ranker
check_eq "the same ranking (fixed seeds)" "$(keys "$T/m1.json")" "$(keys "$T/out")"
check "the report says it" $AED --db "$T/rounds.db" mine --class Bark --k 10 --ranker
check_grep "ranker: trained on 10 rated clips" 'ranker: trained on 10 rated clips' "$T/out"
# A candidate's recording's ratings. Two recordings with two unrated clips
# each: one clip of the first is rated Present, one of the second Not present
# (review's rating rows, a test annotator). With a large --ranker-group the
# first's other clip leads the candidates and the second's comes last; with
# 0, no recording counts and the ranking is the blend alone.
check "mine --ranker --ranker-group 0, before" $AED --db "$T/rounds.db" --json mine --class Bark \
	--k 300 --ranker --ranker-group 0
cp "$T/out" "$T/pre.json"
check "rate one clip of each of two recordings" $PY - "$T/pre.json" "$T/rounds.db" <<'EOF3'
import json, sqlite3, sys
j = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
grp = dict(db.execute("SELECT key, source_group FROM segment"))
by = {}
for c in j["candidates"]:
    by.setdefault(grp[c["key"]], []).append(c["key"])
pairs = [v for v in by.values() if len(v) == 2]
assert len(pairs) >= 2, by
cls, exp = db.execute("SELECT class_id, export_id FROM rating LIMIT 1").fetchone()
for (k, _), a in zip(pairs[:2], ("present", "not_present")):
    sid = db.execute("SELECT id FROM segment WHERE key = ?", (k,)).fetchone()[0]
    db.execute("INSERT INTO rating (class_id, segment_id, annotator, answer, rated_at, export_id) "
               "VALUES (?, ?, 'test', ?, '2026-01-01T00:00:00Z', ?)", (cls, sid, a, exp))
db.commit()
open(sys.argv[2] + ".mates", "w").write("%s %s\n" % (pairs[0][1], pairs[1][1]))
EOF3
read UP DOWN < "$T/rounds.db.mates"
check "mine --ranker --ranker-group 0" $AED --db "$T/rounds.db" --json mine --class Bark --k 300 \
	--ranker --ranker-group 0
cp "$T/out" "$T/g0.json"
check "mine --ranker --ranker-group 100" $AED --db "$T/rounds.db" --json mine --class Bark --k 300 \
	--ranker --ranker-group 100
cp "$T/out" "$T/g100.json"
check "ranked by the recording's ratings first (100); 0: unmoved" \
	$PY - "$T/g0.json" "$T/g100.json" "$UP" "$DOWN" "$T/rounds.db" <<'EOF3'
import json, sqlite3, sys
g0, g100 = (json.load(open(p)) for p in sys.argv[1:3])
up, down = sys.argv[3:5]
db = sqlite3.connect(sys.argv[5])
grp = dict(db.execute("SELECT key, source_group FROM segment"))
pn = {}
for g, p, n in db.execute("SELECT s.source_group, SUM(r.answer = 'present'), SUM(r.answer = 'not_present') "
                          "FROM rating r JOIN segment s ON s.id = r.segment_id GROUP BY r.segment_id"):
    if p != n:
        a, b = pn.get(g, (0, 0))
        pn[g] = (a + (p > n), b + (n > p))
def e(k):
    p, n = pn.get(grp[k], (0, 0))
    return (p - n) / (p + n + 1)
k0 = [c["key"] for c in g0["candidates"]]
k100 = [c["key"] for c in g100["candidates"]]
assert g0["ranker"]["group_hits"] == 0 and g0["ranker"]["group_weight"] == 0
assert g100["ranker"]["group_weight"] == 100
assert g100["ranker"]["group_hits"] == sum(e(k) != 0 for k in k100) >= 2
assert sorted(k0) == sorted(k100)
es = [e(k) for k in k100]
assert es == sorted(es, reverse=True), es
assert e(up) > 0 > e(down)
assert k0 != k100, "the weight changed nothing"
print("# %s: rank %d of %d at group 0, %d at 100; %s: rank %d at 0, %d at 100"
      % (up, k0.index(up) + 1, len(k0), k100.index(up) + 1, down, k0.index(down) + 1,
         k100.index(down) + 1))
EOF3
sed -n 's/^# /# /p' "$T/out"
rsql "DELETE FROM rating WHERE annotator = 'test'"
rsql "UPDATE rating SET answer = 'unsure' WHERE id = (SELECT min(id) FROM rating)"
rsql "UPDATE rating SET answer = 'not_acoustic' WHERE id = (SELECT max(id) FROM rating)"
check "mine --ranker, one Unsure and one Not acoustic" $AED --db "$T/rounds.db" --json mine \
	--class Bark --k 10 --ranker
check_eq "Unsure and Not acoustic never train it: 8 rated clips" "1 8" "$(ranked "$T/out")"
rsql "UPDATE rating SET answer = 'unsure'"
check "mine --ranker, every rating Unsure" $AED --db "$T/rounds.db" mine --class Bark --k 10 --ranker
check_grep "the ranker is off without a Present or Not present rating" 'ranker: off' "$T/out"

done_testing
