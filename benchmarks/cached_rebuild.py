"""Time a fully cached rebuild of the default study (HTML and PDF), in a fresh process, and size the run cache.

    .venv/bin/python benchmarks/cached_rebuild.py [--cache DIR]

First makes sure every run of the default study is in the cache (a cold build the first time), then times
`reportgen build` again with a changed title, as CI would after a commit that touches no training setting.
Prints whether TensorFlow was imported, the per-stage times, the cache's size, and last `cached rebuild: X s`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reportgen.cache import entries

CODE = ("import sys\nfrom reportgen.cli import main\ncode = main(sys.argv[1:])\n"
        "print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr)\nsys.exit(code)")


def build(cache: Path, out: Path, *extra: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CODE, "build", "--out", str(out), "--cache-dir", str(cache), "--force", *extra],
                   check=True)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path(".reportgen-cache"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm = build(args.cache, Path(tmp) / "first", "--quiet")
        print(f"first build (trains what the cache lacks): {warm:.1f} s")
        seconds = build(args.cache, Path(tmp) / "second", "--set", 'title="A title changed by a commit"')
        doc = json.loads((Path(tmp) / "second" / "results.json").read_text())
    files = entries(args.cache)
    size = sum(f.stat().st_size for f in files)
    print(f"runs: {len(doc['runs'])}; cache: {size / 2**20:.1f} MiB in {len(files)} entries")
    for stage, t in (doc.get("timings_seconds") or {}).items():
        print(f"  {stage:<40}{t:6.2f} s")
    print(f"cached rebuild: {seconds:.1f} s")


if __name__ == "__main__":
    main()
