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
    b.add_argument("--quiet", action="store_true", help="no progress display, only errors")
    i = sub.add_parser("init", help="write the default study as a commented study file to start from")
    i.add_argument("path", nargs="?", type=Path, default=Path("study.toml"))
    i.add_argument("--force", action="store_true", help="overwrite an existing file")
    c = sub.add_parser("compare", help="say what changed between two builds (no training, no TensorFlow)")
    c.add_argument("old", type=Path, help="the earlier build: its output folder or its results.json")
    c.add_argument("new", type=Path, help="the later build: its output folder or its results.json")
    c.add_argument("--format", choices=("markdown", "json"), default="markdown", help="output format (default: markdown)")
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
    config = load_config(args.config, overrides)
    from reportgen.pipeline import build  # imports TensorFlow: only once the study is known to be valid

    result = build(config, quiet=args.quiet)
    if not args.quiet:
        for path in result.files:
            size = sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size
            print(f"wrote {path} ({size / 1024:,.0f} KiB)")
    return 0


def _init(args) -> int:
    from reportgen.config import commented_study

    if args.path.exists() and not args.force:
        raise ConfigError([f"{args.path}: already exists (use --force to overwrite)"])
    args.path.write_text(commented_study(), encoding="utf-8")
    print(f"wrote {args.path}: edit it, then run: reportgen build --config {args.path}")
    return 0


def _compare(args) -> int:
    """Print what changed between two builds; reads their results.json only (no TensorFlow)."""
    import json

    from reportgen.compare import changes_json, compare, load_results, render_markdown

    changes = compare(load_results(args.old), load_results(args.new), old_name=str(args.old), new_name=str(args.new))
    text = render_markdown(changes) if args.format == "markdown" else json.dumps(changes_json(changes), indent=1) + "\n"
    sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    try:
        return {"build": _build, "init": _init, "compare": _compare}[args.command](args)
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
