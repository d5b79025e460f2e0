#!/usr/bin/env python3
"""Write licenses/THIRD-PARTY.md: the licence of every crate built into vinyasa.

    scripts/third_party.py           # (re)write the file
    scripts/third_party.py --check   # exit 1 if it is out of date with Cargo.lock

The crates are those `cargo tree` lists as normal (not build or dev)
dependencies for any target, proc-macros left out (they run in the compiler
and are not in the binary). Each licence text found in a crate's own files
(LICENSE*, LICENCE*, COPYING*, NOTICE*, UNLICENSE*) is given once, after
the list of crates that ship it. `vinyasa licenses` prints the result.
"""

import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "licenses", "THIRD-PARTY.md")
PREFIXES = ("license", "licence", "copying", "notice", "unlicense")


def cargo(*args):
    return subprocess.run(["cargo", *args], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def crates():
    """(name, version, licence expression) of every crate in the binary."""
    tree = cargo("tree", "-e", "normal", "--target", "all", "--prefix", "none",
                 "--format", "{p}|{l}", "--locked")
    seen = {}
    for line in tree.splitlines():
        package, _, licence = line.partition("|")
        if "(proc-macro)" in package:
            continue
        name, version = package.split()[:2]
        seen[(name, version.lstrip("v"))] = licence.replace(" (*)", "").strip()
    meta = json.loads(cargo("metadata", "--format-version", "1", "--locked"))
    root = meta["resolve"]["root"]
    dirs = {(p["name"], p["version"]): os.path.dirname(p["manifest_path"])
            for p in meta["packages"] if p["id"] != root}
    return [(n, v, lic, dirs[(n, v)]) for (n, v), lic in sorted(seen.items()) if (n, v) in dirs]


def licence_files(directory):
    names = sorted(f for f in os.listdir(directory)
                   if f.lower().startswith(PREFIXES) and os.path.isfile(os.path.join(directory, f)))
    texts = []
    for name in names:
        with open(os.path.join(directory, name), encoding="utf-8", errors="replace") as f:
            texts.append((name, f.read().strip()))
    return texts


def render():
    listed = crates()
    by_text = {}
    rows = []
    for name, version, licence, directory in listed:
        files = licence_files(directory)
        rows.append("| {} | {} | {} | {} |".format(
            name, version, licence or "(not stated)",
            ", ".join(f for f, _ in files) or "none in the crate"))
        for file, text in files:
            by_text.setdefault(text, []).append("{} {} ({})".format(name, version, file))
    out = [
        "# Third-party licences",
        "",
        "vinyasa is built from these crates (from crates.io; each one's source,",
        "MPL-2.0 files included, is at https://crates.io/crates/NAME/VERSION).",
        "Written by `scripts/third_party.py` from Cargo.lock; `vinyasa licenses`",
        "prints it after vinyasa's own notices.",
        "",
        "| crate | version | licence | licence files |",
        "|---|---|---|---|",
        *rows,
        "",
        "## Licence texts",
        "",
        "Each text as the crates ship it, once, after the crates that ship it.",
    ]
    for text, users in sorted(by_text.items(), key=lambda kv: kv[1][0]):
        out += ["", "### " + ", ".join(users), "", "```text", text, "```"]
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if licenses/THIRD-PARTY.md is out of date")
    args = parser.parse_args()
    text = render()
    if args.check:
        try:
            with open(OUT, encoding="utf-8") as f:
                current = f.read()
        except OSError:
            current = ""
        if current != text:
            sys.exit("licenses/THIRD-PARTY.md is out of date with Cargo.lock: "
                     "run scripts/third_party.py")
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    print("wrote {} ({} crates)".format(os.path.relpath(OUT, ROOT), text.count("\n| ") - 1))


if __name__ == "__main__":
    main()
