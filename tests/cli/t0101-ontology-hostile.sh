#!/bin/sh
# t0101-ontology-hostile.sh - bad ontology and label files are refused with a
# message naming the problem, and the database is left byte-for-byte as it was.
. "$(dirname "$0")/../lib/testlib.sh"
D=$ROOT/tests/data/ontology
dbsum() { sqlite3 "$AEDCURATE_DB" .dump | sha256sum | cut -d' ' -f1; }

check "init" $AED init
check "a small valid ontology" $AED ontology ingest "$D/small.json" --labels "$D/labels_small.csv"
check_eq "5 classes" 5 "$(sql 'SELECT count(*) FROM class')"
check_eq "a class with two parents" "/x/brush /x/motor" "$(sql "SELECT group_concat(p.mid, ' ') FROM (SELECT p.mid FROM class_edge e JOIN class p ON p.id = e.parent_id JOIN class c ON c.id = e.child_id WHERE c.mid = '/x/ebrush' ORDER BY p.id) p")"
check_eq "fractional example start kept in ms" "dm0tSDrMGUA 360500 370000" "$(sql "SELECT ytid || ' ' || start_ms || ' ' || end_ms FROM class_example x JOIN class c ON c.id = x.class_id WHERE c.mid = '/x/motor'")"
sum0=$(dbsum)

# refuse FILE PATTERN DESC: ingest must fail, stderr must match, db unchanged.
refuse() {
	check_fail "$3: refused" $AED ontology ingest "$1"
	check_grep "$3: message names it" "$2" "$T/err"
	check_eq "$3: database unchanged" "$sum0" "$(dbsum)"
}
refuse "$D/truncated.json" 'truncated\.json:25:[0-9]+: invalid JSON: premature end of input' "truncated JSON"
refuse "$D/cycle.json" 'cycle: /x/a -> /x/b -> /x/c -> /x/a' "a cycle"
refuse "$D/duplicate_id.json" 'duplicate id: /x/a \(classes #1 and #3\)' "a duplicate id"
refuse "$D/dangling_child.json" 'class #1 \(/x/a\) lists child "/x/ghost", which is no class' "a dangling child id"
refuse "$D/not_array.json" 'expected a JSON array of classes, not an object' "not an array"
refuse "$D/wrong_types.json" 'class #2 \(/x/b\): "name" must be a string, not an integer' "a number for a name"
refuse "$D/wrong_child_type.json" '"child_ids" must be an array, not a string' "a string for child_ids"
refuse "$D/bad_example.json" 'positive example #1: "youtu.be/abc\?start=30": needs both start= and end=' "a malformed example"
refuse "$D/duplicate_key.json" 'duplicate_key\.json:2:[0-9]+: invalid JSON: duplicate object key' "a duplicate key"
refuse "$D/unknown_restriction.json" 'unknown restriction "secret"' "an unknown restriction"

# generated in $T: too big to keep in the repository
: >"$T/empty.json"
refuse "$T/empty.json" 'empty\.json:[0-9]+:[0-9]+: invalid JSON' "an empty file"
printf '[{"id": "/x/a", "name": "A", "child_ids": ["/x/a"]}]' >"$T/self.json"
refuse "$T/self.json" 'cycle: /x/a -> /x/a' "a class that is its own child"
$PY -c 'import sys; sys.stdout.write("[" + "{\"id\": \"/x/a\", \"name\": \"A\", \"description\": \"" + "x" * (8 << 20) + "\"}]")' >"$T/bigline.json"
refuse "$T/bigline.json" 'class #1 \(/x/a\): "description" is 8388608 bytes, over the limit' "an 8 MiB single-line description"
$PY -c 'import sys; sys.stdout.write("[{\"id\": \"/x/a\", \"name\": \"" + "y" * (8 << 20))' >"$T/bigopen.json"
refuse "$T/bigopen.json" 'bigopen\.json:1:[0-9]+: invalid JSON' "an 8 MiB line that never closes its string"
$PY -c 'import sys; sys.stdout.write("[" * 100000 + "]" * 100000)' >"$T/deep.json"
refuse "$T/deep.json" 'deep\.json:1:[0-9]+: invalid JSON' "100000 nested arrays"
printf '[{"id": "/x/a", "name": "A\\u0000B"}]' >"$T/nul.json"
refuse "$T/nul.json" 'nul\.json:1:[0-9]+: invalid JSON' "an escaped NUL in a string"
printf '[{"id": "/x/a", "name": "\377\376"}]' >"$T/latin.json"
refuse "$T/latin.json" 'latin\.json:1:[0-9]+: invalid JSON' "bytes that are not UTF-8"
printf '[{"id": "/x/a b", "name": "A"}]' >"$T/space.json"
refuse "$T/space.json" 'id "/x/a b" contains a space' "a mid with a space"
$PY -c 'import sys; sys.stdout.write("[" + ",".join("{\"id\": \"/c/%d\", \"name\": \"C%d\", \"child_ids\": [\"/c/%d\"]}" % (i, i, i + 1) for i in range(4000)) + ", {\"id\": \"/c/4000\", \"name\": \"last\"}]")' >"$T/chain.json"
refuse "$T/chain.json" 'closure has more than [0-9]+' "a 4000-deep chain (closure over the cap)"
# Deep but under the cap: 3,000 deep is 4,501,500 (ancestor, descendant) rows.
$PY -c 'import sys; sys.stdout.write("[" + ",".join("{\"id\": \"/c/%d\", \"name\": \"C%d\", \"child_ids\": [\"/c/%d\"]}" % (i, i, i + 1) for i in range(2999)) + ", {\"id\": \"/c/2999\", \"name\": \"last\"}]")' >"$T/chain3k.json"
check "a 3000-deep chain is stored" $AED --db "$T/chain.db" ontology ingest "$T/chain3k.json"
check_eq "every closure row, the deepest class under 2999 ancestors, 2999 steps below the top" \
	"4501500|2999|2999" "$(sqlite3 "$T/chain.db" "SELECT (SELECT count(*) FROM class_closure),
	(SELECT count(*) FROM class_closure cc JOIN class c ON c.id = cc.descendant_id WHERE c.mid = '/c/2999' AND cc.depth > 0),
	(SELECT cc.depth FROM class_closure cc JOIN class a ON a.id = cc.ancestor_id JOIN class d ON d.id = cc.descendant_id
	 WHERE a.mid = '/c/0' AND d.mid = '/c/2999')")"
check_eq "and the index on descendants is there" 1 \
	"$(sqlite3 "$T/chain.db" "SELECT count(*) FROM sqlite_schema WHERE name = 'class_closure_desc'")"
truncate -s 65M "$T/huge.json"
refuse "$T/huge.json" 'huge\.json' "a file over the 64 MiB cap"
check_fail "a missing file is refused" $AED ontology ingest "$T/nonexistent.json"
check_grep "missing file named" 'nonexistent\.json' "$T/err"

# A UTF-8 byte order mark (some editors save one) is skipped, as in CSV files.
printf '\357\273\277' >"$T/bom.json"
cat "$D/small.json" >>"$T/bom.json"
check "an ontology starting with a UTF-8 byte order mark" $AED --db "$T/bom.db" ontology ingest "$T/bom.json"
check_eq "all its classes" 5 "$(sqlite3 "$T/bom.db" 'SELECT count(*) FROM class')"

# label files
check_fail "labels with unknown mids are refused" $AED ontology ingest "$D/small.json" --labels "$D/labels_unknown.csv"
check_grep "unknown mids named with line numbers" 'line 3: /x/nope; line 5: /x/gone' "$T/err"
check_eq "labels: database unchanged" "$sum0" "$(dbsum)"
printf 'index,mid,display_name\n0,/x/brush,"A"\n0,/x/motor,"B"\n' >"$T/dupidx.csv"
check_fail "a duplicate label index is refused" $AED ontology ingest "$D/small.json" --labels "$T/dupidx.csv"
check_grep "duplicate index named with lines" 'index 0 on lines 2 and 3' "$T/err"
printf 'index,mid,display_name\n0,/x/brush,"A\n' >"$T/quote.csv"
check_fail "bad CSV quoting is refused" $AED ontology ingest "$D/small.json" --labels "$T/quote.csv"
check_grep "bad quoting named with its line" 'quote\.csv:2: bad quoting' "$T/err"
printf 'index,mid,display_name\nx,/x/brush,"A"\n' >"$T/badidx.csv"
check_fail "a non-numeric index is refused" $AED ontology ingest "$D/small.json" --labels "$T/badidx.csv"
check_grep "bad index named" 'badidx\.csv:2: index "x"' "$T/err"
check_eq "labels: database still unchanged" "$sum0" "$(dbsum)"

# the same ontology with other label indexes: only label_index changes
printf 'index,mid,display_name\n4,/x/motor,"Motor"\n' >"$T/relabel.csv"
check "new label indexes for an unchanged ontology" $AED ontology ingest "$D/small.json" --labels "$T/relabel.csv"
check_grep "says the ontology is unchanged" 'ontology unchanged \(version 1\); label indexes set from 1 rows' "$T/out"
check_eq "label indexes replaced" "/x/motor 4" "$(sql "SELECT mid || ' ' || label_index FROM class WHERE label_index IS NOT NULL")"
check_eq "still one version" 1 "$(sql 'SELECT count(*) FROM ontology_version')"

# hostile strings are stored as they are and shown without control bytes
printf '[{"id": "/x/esc", "name": "Red \\u001b[31malert\\u001b[0m \\u00e9t\\u00e9 <b>&amp;", "description": "line1\\nline2"}]' >"$T/esc.json"
check "odd but valid strings are accepted" $AED ontology ingest "$T/esc.json"
check_eq "stored byte for byte" "$(printf 'Red \033[31malert\033[0m été <b>&amp;')" "$(sql "SELECT name FROM class WHERE mid = '/x/esc'")"
check "show a class with control bytes in its name" $AED ontology show /x/esc
check_grep "control bytes escaped on the terminal" '^name: Red \\x1b\[31malert\\x1b\[0m été <b>&amp;$' "$T/out"
check_eq "no raw escape byte printed" 0 "$(tr -cd '\033' <"$T/out" | wc -c | tr -d ' ')"
done_testing
