#!/usr/bin/env python3
"""Sensitive precision/recall per language on a labelled JSONL set (`prompt`, `lang`, `sensitive`),
through `stav-gateway eval-router` (the same scan the gateway runs).

Usage: eval_sensitive.py SET.jsonl [BINARY]   (BINARY defaults to target/release/stav-gateway)
"""

import collections
import json
import re
import subprocess
import sys
import tempfile


def run(binary, rows):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for r in rows:
            f.write(json.dumps({"prompt": r["prompt"], "sensitive": r["sensitive"],
                                "entities": r.get("entities", [])}, ensure_ascii=False) + "\n")
        path = f.name
    out = subprocess.run([binary, "eval-router", path], capture_output=True, text=True, check=True).stdout
    m = re.search(r"^sensitive\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    return m.groups(), out


def main():
    path = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/stav-gateway"
    rows = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    by_lang = collections.defaultdict(list)
    for r in rows:
        by_lang[r.get("lang", "?")].append(r)
    (acc, p, rec), out = run(binary, rows)
    pos = sum(r["sensitive"] for r in rows)
    print(f"{path}: {len(rows)} rows ({pos} sensitive): precision {p}, recall {rec}, accuracy {acc}")
    print(f"{'lang':<6}{'rows':>6}{'pos':>6}{'precision':>11}{'recall':>9}")
    for lang in sorted(by_lang):
        (acc, p, rec), _ = run(binary, by_lang[lang])
        lr = by_lang[lang]
        print(f"{lang:<6}{len(lr):>6}{sum(r['sensitive'] for r in lr):>6}{p:>11}{rec:>9}")
    tail = out.split("domain", 1)[-1].split("\n", 1)[-1]
    if tail.strip():
        print(tail)


if __name__ == "__main__":
    main()
