#!/usr/bin/env python3
"""Runs SQL statements in one chdb (in-process ClickHouse) session.

Usage: chdb-sql.py DATA_DIR < statements.json

stdin is a JSON array of SQL strings. They run in order in one session whose data lives in
DATA_DIR (kept between runs, so a second call sees the tables of the first). stdout is a JSON
array with one object per statement run: {"sql": ..., "rows": "<JSONEachRow text>"} on success,
{"sql": ..., "error": "..."} for the statement that failed. The first failure stops the run, is
also printed to stderr, and the exit status is 1 (2 for bad usage or input).
"""
import json
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: chdb-sql.py DATA_DIR < statements.json", file=sys.stderr)
        return 2
    try:
        statements = json.load(sys.stdin)
    except ValueError as err:
        print(f"stdin is not JSON: {err}", file=sys.stderr)
        return 2
    if not isinstance(statements, list) or not all(isinstance(s, str) for s in statements):
        print("stdin must be a JSON array of SQL strings", file=sys.stderr)
        return 2

    from chdb import session  # imported late: usage errors need no engine

    results = []
    status = 0
    sess = session.Session(sys.argv[1])
    try:
        for sql in statements:
            try:
                res = sess.query(sql, "JSONEachRow")
                results.append({"sql": sql, "rows": str(res) if res is not None else ""})
            except Exception as err:  # chdb raises ChdbError (or RuntimeError in older builds)
                message = str(err).strip()
                results.append({"sql": sql, "error": message})
                print(f"statement failed: {message}\n--- statement ---\n{sql}", file=sys.stderr)
                status = 1
                break
    finally:
        sess.close()
    json.dump(results, sys.stdout)
    sys.stdout.write("\n")
    return status


if __name__ == "__main__":
    sys.exit(main())
