#!/usr/bin/python3
"""array_digest.py DB KIND - one line per stored array of KIND:
"segment_key dtype dim0xdim1xdim2 sha256", read straight from the array store
files the way store.h documents them (array_ref offset/nbytes into
<db>.arrays/<path>, within array_file.committed_bytes). Used to check that a
run killed with kill -9 and resumed stores exactly what a clean run stores."""
import hashlib
import os
import sqlite3
import sys


def main(db, kind):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    rows = con.execute(
        "SELECT s.key, r.dtype, r.dim0, r.dim1, r.dim2, r.offset, r.nbytes, f.path, f.committed_bytes "
        "FROM array_ref r JOIN array_file f ON f.id = r.file_id JOIN segment s ON s.id = r.item "
        "WHERE r.kind = ? ORDER BY s.key", (kind,)).fetchall()
    bad = 0
    for key, dtype, d0, d1, d2, off, nbytes, path, committed in rows:
        if off + nbytes > committed:
            print("%s: extent %d+%d past committed %d" % (key, off, nbytes, committed))
            bad += 1
            continue
        with open(os.path.join(db + ".arrays", path), "rb") as f:
            f.seek(off)
            data = f.read(nbytes)
        if len(data) != nbytes:
            print("%s: short read" % key)
            bad += 1
            continue
        print("%s %s %dx%dx%d %s" % (key, dtype, d0, d1, d2, hashlib.sha256(data).hexdigest()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
