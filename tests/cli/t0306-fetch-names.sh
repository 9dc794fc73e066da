#!/bin/sh
# t0306-fetch-names.sh - media file names are distinct for distinct ids: an
# id that looks like another id's escaped name ("a_b-10a3f9f2" is the name of
# "a b"), or that starts with another id and a dot ("abc.x" and "abc", "x.wav"
# and "x" with an extension), gets its own file; plain ids keep plain names.
. "$(dirname "$0")/../lib/testlib.sh"

check "init" $AED init
M=$T/test.db.media
n=0
# add YTID: one more segment, fetched alone by the next run
add() {
	n=$((n + 1))
	sql "INSERT INTO segment(key, ytid, start_ms, end_ms, source_group, shard) VALUES('k${n}_0', '$1', 0, 1000, 'g$n', $n)"
}
path() { sql "SELECT m.path FROM media m JOIN segment s ON s.id = m.segment_id WHERE s.ytid = '$1'"; }
# fetch with a command that writes the ytid itself into {out}[EXT]
fetch() { check "fetch $1" $AED fetch --json --cmd "printf %s {ytid} >{out}${2:-}"; }
# own ID: the file of ID holds ID
own() {
	p=$(path "$1")
	if [ -n "$p" ] && [ "$(cat "$p")" = "$1" ]; then ok "$1 has its own file ($(basename "$p"))"
	else not_ok "$1 has its own file (path '$p', holds '$(cat "$p" 2>/dev/null)')"; fi
}

add 'a b'; fetch 'a b'
check_eq "a replaced character adds the hash" "$M/a_b-10a3f9f2" "$(path 'a b')"
add 'a_b-10a3f9f2'; fetch 'an id that is the escaped name of another'
own 'a b'; own 'a_b-10a3f9f2'
add 'abc.x'; fetch 'abc.x' .m4a
add 'abc'; fetch 'abc, whose name starts that one' .m4a
own 'abc.x'; own 'abc'
add 'x.wav'; fetch 'x.wav'
add 'x'; fetch 'x, which with its extension is x.wav' .wav
own 'x.wav'; own 'x'
check_eq "plain ids keep plain names" "$M/abc.m4a $M/x.wav" "$(path abc) $(path x)"
check_eq "six files, six sha256" "6|6" "$(sql "SELECT count(DISTINCT path), count(DISTINCT sha256) FROM media WHERE status = 'ok'")"
done_testing
