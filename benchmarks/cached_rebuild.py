"""Time a fully cached rebuild of the default study (HTML and PDF), in a fresh process, and size the run cache.

    .venv/bin/python benchmarks/cached_rebuild.py [--cache DIR] [--repeat N]

First makes sure every run of the default study is in the cache (a cold build the first time), then times
`reportgen build` again with a changed title, as CI would after a commit that touches no training setting:

1. with what the cache keeps besides the runs (reportgen.memo: analysis, figures, verdicts, the runs' texts of
   results.json) removed, so they are measured, drawn and judged again;
2. with them kept, as a second such commit finds them.

Each is the median of --repeat builds (the wall time of one varies by about a second on a shared 2-core machine).
Prints whether TensorFlow was imported, the per-stage times of the last build, the cache's size, and last
`cached rebuild: X s` (case 2).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from build_time import run_measured

from reportgen.cache import entries
from reportgen.memo import FOLDER

CODE = (
    "import sys\nfrom reportgen.cli import main\ncode = main(sys.argv[1:])\n"
    "print('tensorflow imported:', 'tensorflow' in sys.modules, file=sys.stderr)\nsys.exit(code)"
)


def build(cache: Path, out: Path, *extra: str) -> tuple[float, int]:
    """Wall seconds and peak memory (the build's process tree) of one build."""
    return run_measured([sys.executable, "-c", CODE, "build", "--out", str(out), "--cache-dir", str(cache), "--force", *extra])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cache", type=Path, default=Path(".reportgen-cache"))
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    title = ("--set", 'title="A title changed by a commit"')
    with tempfile.TemporaryDirectory() as tmp:
        warm, _ = build(args.cache, Path(tmp) / "first", "--quiet")
        print(f"first build (trains what the cache lacks): {warm:.1f} s")
        afresh = []
        for _ in range(args.repeat):
            shutil.rmtree(args.cache / FOLDER, ignore_errors=True)  # the kept analysis and figures
            afresh.append(build(args.cache, Path(tmp) / "afresh", "--quiet", *title)[0])
        kept = [build(args.cache, Path(tmp) / "second", *(("--quiet",) if i else ()), *title) for i in range(args.repeat)]
        doc = json.loads((Path(tmp) / "second" / "results.json").read_text())
    files = entries(args.cache)
    size = sum(f.stat().st_size for f in files)
    derived = sum(f.stat().st_size for f in (args.cache / FOLDER).glob("*.memo"))
    print(
        f"runs: {len(doc['runs'])}; cache: {size / 2**20:.1f} MiB in {len(files)} entries, "
        f"and {derived / 2**20:.1f} MiB of kept analyses, figures, verdicts and run texts"
    )
    for stage, t in (doc.get("timings_seconds") or {}).items():
        print(f"  {stage:<40}{t:6.2f} s")
    peak = max(m for _, m in kept)
    print(f"peak memory of the cached rebuild: {peak / 2**30:.2f} GiB (the build and its helper process together)")
    walls = sorted(w for w, _ in kept)
    print(
        f"runs cached, analysis, verdicts and figures made again: {statistics.median(afresh):.1f} s "
        f"(median of {len(afresh)}: {', '.join(f'{w:.1f}' for w in sorted(afresh))})"
    )
    print(f"runs, analysis, verdicts and figures cached: median of {len(walls)}: {', '.join(f'{w:.1f}' for w in walls)}")
    print(f"cached rebuild: {statistics.median(walls):.1f} s")


if __name__ == "__main__":
    main()
