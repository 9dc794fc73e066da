#!/bin/sh
# embed_sql.sh FILE... - print a C header holding each migration as a string.
# The numbered file name (sql/0001_init.sql) gives the schema version.
set -e
echo "/* generated from the sql/ migrations by src/build/embed_sql.sh - do not edit */"
echo "static const struct { int version; const char *name; const char *sql; } aed_migrations[] = {"
for f in "$@"; do
	b=$(basename "$f" .sql)
	v=$(echo "$b" | sed 's/^0*\([0-9][0-9]*\)_.*/\1/')
	printf '\t{ %s, "%s",\n' "$v" "$b"
	sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t  "/' -e 's/$/\\n"/' "$f"
	printf '\t},\n'
done
echo "};"
