#!/bin/sh
# t0100-ontology.sh - `ontology ingest/show/tree/search` on the real AudioSet
# ontology: counts, toothbrush resolution, closure, label indexes,
# re-ingest idempotence and a newer version updated in place.
. "$(dirname "$0")/../lib/testlib.sh"
need_shared "$AUDIOSET/ontology.json" "$AUDIOSET/class_labels_indices.csv"
ONTO=$AUDIOSET/ontology.json
LABELS=$AUDIOSET/class_labels_indices.csv
# The ontology tables, in a stable order, for before/after comparisons.
dump_onto() {
	sql "SELECT * FROM ontology_version ORDER BY id;
	     SELECT * FROM class ORDER BY id;
	     SELECT * FROM class_edge ORDER BY parent_id, child_id;
	     SELECT * FROM class_closure ORDER BY ancestor_id, descendant_id;
	     SELECT * FROM class_example ORDER BY class_id, ytid, start_ms;"
}

check "init" $AED init
check "ingest the real ontology with its label indices" $AED ontology ingest "$ONTO" --labels "$LABELS"
check_grep "summary counts classes" '632 classes \(23 abstract, 67 blacklist\)' "$T/out"
check_eq "632 classes" 632 "$(sql 'SELECT count(*) FROM class')"
check_eq "23 abstract" 23 "$(sql 'SELECT count(*) FROM class WHERE is_abstract')"
check_eq "67 blacklist" 67 "$(sql 'SELECT count(*) FROM class WHERE is_blacklist')"
check_eq "1 both abstract and blacklist" 1 "$(sql 'SELECT count(*) FROM class WHERE is_abstract AND is_blacklist')"
# Independent counts from the file itself.
want=$($PY -c '
import json, sys
o = json.load(open(sys.argv[1]))
print(sum(len(c["child_ids"]) for c in o), sum(len(c["positive_examples"]) for c in o))' "$ONTO")
check_eq "edges and examples match the file" "$want" "$(sql 'SELECT (SELECT count(*) FROM class_edge), (SELECT count(*) FROM class_example)' | tr '|' ' ')"
check_eq "527 label indexes" "527|0|526" "$(sql 'SELECT count(label_index), min(label_index), max(label_index) FROM class')"
check_eq "Speech is index 0" "/m/09x0r" "$(sql 'SELECT mid FROM class WHERE label_index = 0')"
check_eq "one ontology version" 1 "$(sql 'SELECT count(*) FROM ontology_version')"
check_eq "version sha256 is the file's" "$(sha256sum "$ONTO" | cut -d' ' -f1)" "$(sql 'SELECT sha256 FROM ontology_version')"
check_eq "a run of stage ontology, ok" "ontology|ok|632" "$(sql "SELECT stage, outcome, n_done FROM run WHERE stage = 'ontology'")"

# show
check "show toothbrush" $AED ontology show toothbrush
check_grep "show names /m/012xff" '^mid: /m/012xff$' "$T/out"
check_grep "show names the name" '^name: Toothbrush$' "$T/out"
check_grep "show lists the child Electric toothbrush" '/m/04fgwm +Electric toothbrush' "$T/out"
check_grep "show lists the parent" '/t/dd00071 +Domestic sounds, home sounds' "$T/out"
check_grep "show counts 7 examples" '^examples: 7$' "$T/out"
check_grep "show says no restrictions" '^restrictions: none$' "$T/out"
check "show by mid" $AED ontology show /m/012xff
check_grep "by mid: same class" '^name: Toothbrush$' "$T/out"
check "show TOOTHBRUSH (case-insensitive)" $AED ontology show TOOTHBRUSH
check_grep "case-insensitive: same class" '^mid: /m/012xff$' "$T/out"
check "show an abstract and blacklisted class" $AED ontology show /m/0dgw9r
check_grep "abstract shown" '^restrictions: abstract' "$T/out"
check_fail "an ambiguous name is refused" $AED ontology show electric
check_grep "ambiguity lists candidates" '/m/04fgwm +Electric toothbrush' "$T/err"
check_grep "ambiguity lists other candidates" '/m/02sgy +Electric guitar' "$T/err"
check_fail "an unknown name is refused" $AED ontology show "no such sound"
check_grep "unknown name is named" 'no class matches "no such sound"' "$T/err"
check "a unique substring resolves" $AED ontology show "ic toothbr"
check_grep "substring: Electric toothbrush" "^mid: /m/04fgwm$" "$T/out"
check "show --json" $AED ontology show toothbrush --json
check_eq "json: mid, child, example count" "/m/012xff /m/04fgwm 7 375" \
	"$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["mid"], d["children"][0]["mid"], d["n_examples"], d["label_index"])' "$T/out")"

# closure: Electric toothbrush counts for Toothbrush
check_eq "toothbrush subtree" "/m/012xff /m/04fgwm" \
	"$(sql "SELECT group_concat(c.mid, ' ') FROM (SELECT c.mid FROM class_closure k JOIN class c ON c.id = k.descendant_id
	        WHERE k.ancestor_id = (SELECT id FROM class WHERE mid = '/m/012xff') ORDER BY k.depth) c")"
want=$($PY -c '
import json, sys
o = {c["id"]: c for c in json.load(open(sys.argv[1]))}
def desc(m, seen):
    for ch in o[m]["child_ids"]:
        if ch not in seen:
            seen.add(ch); desc(ch, seen)
    return seen
print(sum(len(desc(m, {m})) for m in o))' "$ONTO")
check_eq "closure size matches an independent walk" "$want" "$(sql 'SELECT count(*) FROM class_closure')"
check_eq "closure depth is the shortest path" 0 "$(sql 'SELECT count(*) FROM class_closure k WHERE depth > 0 AND depth <> 1 + (SELECT min(k2.depth) FROM class_edge e JOIN class_closure k2 ON k2.ancestor_id = k.ancestor_id AND k2.descendant_id = e.parent_id WHERE e.child_id = k.descendant_id)')"

# tree and search
check "tree from a root" $AED ontology tree toothbrush
check_eq "tree toothbrush" "Toothbrush (/m/012xff)
  Electric toothbrush (/m/04fgwm)" "$(cat "$T/out")"
check "whole tree" $AED ontology tree
check_eq "7 top classes" 7 "$(grep -c '^[^ ]' "$T/out")"
check "tree --depth 1" $AED ontology tree --depth 1
check_eq "depth 1: 7 tops and their children" "$(sql 'SELECT 7 + count(*) FROM class_edge WHERE parent_id IN (SELECT id FROM class WHERE id NOT IN (SELECT child_id FROM class_edge))')" "$(wc -l < "$T/out" | tr -d ' ')"
check "tree --json" $AED ontology tree Animal --json --depth 2
check_eq "json tree root" "/m/0jbk" "$($PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["mid"])' "$T/out")"
check "search toothbrush" $AED ontology search toothbrush
check_eq "search lists both" "/m/04fgwm    Electric toothbrush
/m/012xff    Toothbrush" "$(cat "$T/out")"
check "search matches descriptions" $AED ontology search "bristle motions"
check_grep "description match" '/m/04fgwm' "$T/out"
check_fail "search with no match fails" $AED ontology search "zzzz no such text"

# re-ingest: nothing changes, not even a run
before=$(dump_onto); runs=$(sql 'SELECT count(*) FROM run')
check "re-ingest the same file" $AED ontology ingest "$ONTO" --labels "$LABELS"
check_grep "re-ingest says unchanged" '^unchanged' "$T/out"
check_eq "tables identical after re-ingest" "$before" "$(dump_onto)"
check_eq "no run recorded for an unchanged file" "$runs" "$(sql 'SELECT count(*) FROM run')"
# the same classes in other bytes (one line): a new version, no class changes
$PY -c 'import json,sys; json.dump(json.load(open(sys.argv[1])), open(sys.argv[2], "w"))' "$ONTO" "$T/oneline.json"
check "ingest the same ontology on one line" $AED ontology ingest "$T/oneline.json" --json
check_eq "one line: 0 added, 0 updated, 632 same" "0 0 0 632" \
	"$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["added"], d["updated"], d["removed"], d["same"])' "$T/out")"

# a newer version: updated in place, ids stable
id_tb=$(sql "SELECT id FROM class WHERE mid = '/m/012xff'")
id_speech=$(sql "SELECT id FROM class WHERE mid = '/m/09x0r'")
$PY - "$ONTO" "$T/newer.json" <<'PY'
import json, sys
o = json.load(open(sys.argv[1]))
by = {c["id"]: c for c in o}
by["/m/012xff"]["name"] = "Toothbrush (manual)"
by["/m/012xff"]["positive_examples"].append("youtu.be/AAAAAAAAAAA?start=1&end=11")
# drop Electric toothbrush (a leaf nobody labelled) and add Sonic toothbrush under Toothbrush
o = [c for c in o if c["id"] != "/m/04fgwm"]
by["/m/012xff"]["child_ids"] = ["/x/sonic"]
o.append({"id": "/x/sonic", "name": "Sonic toothbrush", "description": "", "citation_uri": "",
          "positive_examples": [], "child_ids": [], "restrictions": []})
json.dump(o, open(sys.argv[2], "w"), indent=1)
PY
check "ingest a newer version" $AED ontology ingest "$T/newer.json" --json
check_eq "newer: 1 added, 1 updated, 1 removed" "1 1 1" \
	"$($PY -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["added"], d["updated"], d["removed"])' "$T/out")"
check_eq "class ids stable" "$id_tb $id_speech" "$(sql "SELECT (SELECT id FROM class WHERE mid = '/m/012xff') || ' ' || (SELECT id FROM class WHERE mid = '/m/09x0r')")"
check_eq "renamed in place" "Toothbrush (manual)" "$(sql "SELECT name FROM class WHERE id = $id_tb")"
check_eq "label indexes kept" "375 0" "$(sql "SELECT (SELECT label_index FROM class WHERE id = $id_tb) || ' ' || (SELECT label_index FROM class WHERE id = $id_speech)")"
check_eq "examples rebuilt" 8 "$(sql "SELECT count(*) FROM class_example WHERE class_id = $id_tb")"
check_eq "removed class gone" 0 "$(sql "SELECT count(*) FROM class WHERE mid = '/m/04fgwm'")"
check "toothbrush now has the new child" $AED ontology show /m/012xff
check_grep "new child listed" '/x/sonic +Sonic toothbrush' "$T/out"
check_eq "version of the changed class" "$(sql 'SELECT max(id) FROM ontology_version')" "$(sql "SELECT version_id FROM class WHERE id = $id_tb")"
check_eq "unchanged classes keep their version" 1 "$(sql "SELECT version_id FROM class WHERE id = $id_speech")"

# dropping a class that is labelled is refused, and nothing changes
sql "INSERT INTO segment (key, ytid, start_ms, end_ms, source_group, shard) VALUES ('abc_0', 'abc', 0, 10000, 'abc', 0);
     INSERT INTO label (segment_id, class_id, source) SELECT s.id, c.id, 'weak' FROM segment s, class c WHERE c.mid = '/x/sonic';"
before=$(dump_onto)
check_fail "dropping a labelled class is refused" $AED ontology ingest "$ONTO"
check_grep "refusal names the class" '/x/sonic "Sonic toothbrush" \(1 labels\)' "$T/err"
check_eq "ontology tables unchanged after the refusal" "$before" "$(dump_onto)"
check_eq "the refused ingest is a failed run" failed "$(sql "SELECT outcome FROM run WHERE stage = 'ontology' ORDER BY id DESC LIMIT 1")"
done_testing
