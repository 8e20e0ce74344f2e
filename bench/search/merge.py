#!/usr/bin/env python3
# Search-benchmark round merger: combines the JSON files of several rounds
# (same structure) into one, keeping the median of each numeric leaf; strings
# and other leaves come from the first file. Usage: merge.py OUT_JSON IN_JSON...
import json
import statistics
import sys


def num(x):
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def merge(values):
    first = values[0]
    if isinstance(first, dict):
        keys = list(first) + [k for v in values[1:] if isinstance(v, dict) for k in v if k not in first]
        return {k: merge([v[k] for v in values if isinstance(v, dict) and k in v]) for k in dict.fromkeys(keys)}
    if isinstance(first, list):
        n = max(len(v) for v in values if isinstance(v, list))
        return [merge([v[i] for v in values if isinstance(v, list) and i < len(v)]) for i in range(n)]
    if num(first) and all(num(v) for v in values):
        m = statistics.median(values)
        return int(m) if all(isinstance(v, int) for v in values) and m == int(m) else m
    return first


def main():
    if len(sys.argv) < 3:
        print("usage: merge.py OUT_JSON IN_JSON...", file=sys.stderr)
        sys.exit(2)
    docs = []
    for p in sys.argv[2:]:
        with open(p, encoding="utf-8") as f:
            docs.append(json.load(f))
    out = merge(docs)
    if isinstance(out, dict):
        out["rounds"] = len(docs)
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
