"""Command line: parse, call the pipeline, turn a ReportgenError into clear lines and an exit code."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reportgen import __version__
from reportgen.errors import ConfigError, ReportgenError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reportgen", description="Train a regularization study and write its report.")
    p.add_argument("--version", action="version", version=f"reportgen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="train every variant and seed, then write the report")
    b.add_argument("--config", type=Path, help="study file (TOML); default: the built-in seed study")
    b.add_argument("--out", type=Path, help="output folder (default: the study's output.dir, 'output')")
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a study key, e.g. --set training.epochs=50 --set 'training.seeds=[0,1]'")
    b.add_argument("--format", help="comma-separated report formats: html, pdf (default: both)")
    b.add_argument("--save-models", action="store_true", help="also write every run's .keras model to OUT/models")
    b.add_argument("--cache-dir", type=Path, help="folder of cached runs (default: .reportgen-cache next to the study file)")
    b.add_argument("--no-cache", action="store_true", help="neither read nor write the run cache")
    b.add_argument("--quiet", action="store_true", help="no progress display, only errors")
    r = sub.add_parser("render", help="re-render a previous build's report from its output folder (no training)")
    r.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="the output folder of a previous build")
    r.add_argument("--out", type=Path, help="write the report here instead of into RESULTS_DIR")
    r.add_argument("--format", help="comma-separated report formats: html, pdf (default: the build's)")
    r.add_argument("--quiet", action="store_true", help="no progress display, only errors")
    i = sub.add_parser("init", help="write the default study as a commented study file to start from")
    i.add_argument("path", nargs="?", type=Path, default=Path("study.toml"))
    i.add_argument("--force", action="store_true", help="overwrite an existing file")
    return p


def _build(args) -> int:
    import warnings

    from reportgen.config import load_config

    warnings.simplefilter("ignore")  # library deprecation notes are noise to a report's reader; tests still see them

    overrides = list(args.overrides)
    if args.format is not None:
        formats = [f.strip() for f in args.format.split(",") if f.strip()]
        overrides.append(f"output.formats={formats!r}".replace("'", '"'))
    if args.out is not None:
        overrides.append(f'output.dir="{args.out.resolve().as_posix()}"')
    if args.save_models:
        overrides.append("output.save_models=true")
    if args.no_cache:
        overrides.append('output.cache=""')
    elif args.cache_dir is not None:
        overrides.append(f'output.cache="{args.cache_dir.resolve().as_posix()}"')
    config = load_config(args.config, overrides)
    from reportgen.pipeline import build  # imports TensorFlow: only once the study is known to be valid

    result = build(config, quiet=args.quiet)
    if not args.quiet:
        for path in result.files:
            size = sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size
            print(f"wrote {path} ({size / 1024:,.0f} KiB)")
    return 0


def _render(args) -> int:
    import warnings

    from reportgen.pipeline import render

    warnings.simplefilter("ignore")
    formats = [f.strip() for f in args.format.split(",") if f.strip()] if args.format else None
    if formats and not set(formats) <= {"html", "pdf"}:
        raise ConfigError([f"--format: unknown report format in {args.format!r} (html, pdf)"])
    result = render(args.results_dir, args.out, formats, quiet=args.quiet)
    if not args.quiet:
        for path in result.files:
            print(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB)")
    return 0


def _init(args) -> int:
    from reportgen.config import commented_study

    if args.path.exists() and not args.force:
        raise ConfigError([f"{args.path}: already exists (use --force to overwrite)"])
    args.path.write_text(commented_study(), encoding="utf-8")
    print(f"wrote {args.path}: edit it, then run: reportgen build --config {args.path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        return {"build": _build, "render": _render, "init": _init}[args.command](args)
    except ConfigError as err:
        for line in err.lines:
            print(f"reportgen: error: {line}", file=sys.stderr)
        return err.exit_code
    except ReportgenError as err:
        print(f"reportgen: error: {err}", file=sys.stderr)
        return err.exit_code
    except OSError as err:  # an unwritable output folder, a full disk: say what and where, no traceback
        print(f"reportgen: error: {err.strerror or err}: {err.filename or ''}".rstrip(": "), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("reportgen: interrupted; the previous report was left as it was", file=sys.stderr)
        return 130
