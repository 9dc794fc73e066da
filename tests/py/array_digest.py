#!/usr/bin/python3
"""array_digest.py DB KIND... - one line per stored array of the kinds:
"kind item dtype dims sha256(bytes)", sorted, read straight from the array
store's files (<db>.arrays/<path>) at the offsets array_ref records. Two
databases hold the same results exactly when their digests are equal."""
import hashlib
import os
import sqlite3
import sys


def main():
    db, kinds = sys.argv[1], sys.argv[2:]
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    q = ("SELECT r.kind, r.item, r.dtype, r.dim0, r.dim1, r.dim2, f.path, r.offset, r.nbytes "
         "FROM array_ref r JOIN array_file f ON f.id = r.file_id WHERE r.kind IN (%s) "
         "ORDER BY r.kind, r.item" % ",".join("?" * len(kinds)))
    for kind, item, dtype, d0, d1, d2, path, off, n in con.execute(q, kinds):
        with open(os.path.join(db + ".arrays", path), "rb") as f:
            f.seek(off)
            data = f.read(n)
        if len(data) != n:
            sys.exit("%s %d: short read" % (kind, item))
        print(kind, item, dtype, "%dx%dx%d" % (d0, d1, d2), hashlib.sha256(data).hexdigest())


if __name__ == "__main__":
    main()
