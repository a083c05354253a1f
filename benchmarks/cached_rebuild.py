"""Time a fully cached rebuild of the default study (HTML and PDF), in a fresh process, and size the run cache.

    .venv/bin/python benchmarks/cached_rebuild.py [--cache DIR]

First makes sure every run of the default study is in the cache (a cold build the first time), then times
`reportgen build` again with a changed title, as CI would after a commit that touches no training setting.
Prints whether TensorFlow was imported, the per-stage times, the cache's size, and last `cached rebuild: X s`.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from build_time import run_measured

from reportgen.cache import entries

CODE = ("import sys\nfrom reportgen.cli import main\ncode = main(sys.argv[1:])\n"
        "print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr)\nsys.exit(code)")


def build(cache: Path, out: Path, *extra: str) -> tuple[float, int]:
    """Wall seconds and peak memory (the build's process tree) of one build."""
    return run_measured([sys.executable, "-c", CODE, "build", "--out", str(out), "--cache-dir", str(cache), "--force", *extra])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path(".reportgen-cache"))
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        warm, _ = build(args.cache, Path(tmp) / "first", "--quiet")
        print(f"first build (trains what the cache lacks): {warm:.1f} s")
        seconds, peak = build(args.cache, Path(tmp) / "second", "--set", 'title="A title changed by a commit"')
        doc = json.loads((Path(tmp) / "second" / "results.json").read_text())
    files = entries(args.cache)
    size = sum(f.stat().st_size for f in files)
    print(f"runs: {len(doc['runs'])}; cache: {size / 2**20:.1f} MiB in {len(files)} entries")
    for stage, t in (doc.get("timings_seconds") or {}).items():
        print(f"  {stage:<40}{t:6.2f} s")
    print(f"peak memory of the cached rebuild: {peak / 2**30:.2f} GiB (the build and its helper process together)")
    print(f"cached rebuild: {seconds:.1f} s")


if __name__ == "__main__":
    main()
