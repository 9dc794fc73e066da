# bench_tools.sh - what b05 and b09 share, sourced after testlib.sh:
#   bench_us8k_db DB   the real YAMNet embeddings of UrbanSound8K (14,088
#                      patches of 1,761 clips), embedded once into DB and
#                      kept for later runs
#   bench_search_tool OUT  tests/bench/search_bench.c built against the
#                      library objects, as the unit tests are linked
bench_us8k_db() {
	if [ "$(sqlite3 "$1" 'SELECT count(*) FROM embedding' 2>/dev/null || echo 0)" -lt 1000 ]; then
		echo "embedding UrbanSound8K once into $1 (cached for later runs)"
		rm -rf "$1" "$1".*
		mkdir -p "$(dirname "$1")"
		(export AEDCURATE_DB="$1" AEDCURATE_MODEL="$SHARED/models/yamnet/yamnet.tflite"
		 $AED init -q && $AED ontology ingest -q "$AUDIOSET/ontology.json" &&
			$AED segments ingest -q --columns path=file,labels=audioset_mid,group=fsID \
				"$SHARED/data/audio/urbansound8k/manifest.csv" &&
			$AED fetch -q && $AED decode -q --clip-seconds 4 && $AED features -q && $AED embed -q) >/dev/null ||
			{ echo "building the embedding database failed"; return 1; }
	fi
}

bench_search_tool() {
	# The Makefile's own lists, so a moved source leaves no stale object here.
	(cd "$ROOT" && make -s libobjs) || { echo "cannot build the library objects"; return 1; }
	_objs=$(cd "$ROOT" && printf 'b-objs:\n\t@echo $(abspath $(LIBOBJS))\n' | make -s -f Makefile -f - b-objs)
	_libs=$(cd "$ROOT" && printf 'b-ldlibs:\n\t@echo $(LDLIBS)\n' | make -s -f Makefile -f - b-ldlibs)
	# shellcheck disable=SC2086
	(cd "$ROOT" && cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Ibuild/faiss-capi/include -o "$1" \
		tests/bench/search_bench.c $_objs $_libs) || { echo "cannot build search_bench"; return 1; }
}
