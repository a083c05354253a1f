"""Command line: parse, check all that can be checked before training, build, and turn problems into clear lines and
exit codes."""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import signal
import sys
import threading
from pathlib import Path

from reportgen import __version__
from reportgen.errors import ConfigError, Interrupted, ReportgenError
from reportgen.plan import Cancel

# --fail-on conditions: what a finished build is checked for, and how a failure is reported.
FAIL_CONDITIONS = {
    # every failed run: diverged, ended no better than it started, or predicts one class (analysis.FAILURES)
    "diverged": lambda result: f"{len(result.failed)} run(s) failed: {_listed(result.failed)}" if result.failed else None,
    "contradicted": lambda result: (
        f"{len(result.contradicted)} claim(s) contradicted by the data: {_listed(result.contradicted)}"
        if result.contradicted
        else None
    ),
    "changed": lambda result: _gate(result, *GATES["changed"]),
    "regressed": lambda result: _gate(result, *GATES["regressed"]),
}
GATES = {"changed": ("changed_verdicts", "verdict(s) changed"), "regressed": ("regressions", "metric(s) worse beyond noise")}
NEEDS_COMPARE = {"changed", "regressed"}


def _gate(result, check: str, what: str) -> str | None:
    """A --fail-on condition that reads the comparison with --compare's build."""
    import importlib

    compare = importlib.import_module("reportgen.compare")  # the module (reportgen.compare is the API's function)
    lines = getattr(compare, check)(result.changes)
    return f"{len(lines)} {what}: {_listed(lines)}" if lines else None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="reportgen", description="Train a regularization study and write its report.")
    p.add_argument("--version", action="version", version=f"reportgen {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="train every variant and seed, then write the report")
    b.add_argument("--config", type=Path, help="study file (TOML); default: the built-in seed study")
    b.add_argument("--out", type=Path, help="output folder (default: the study's output.dir, 'output')")
    b.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a study key, e.g. --set training.epochs=50 --set 'training.seeds=[0,1]'",
    )
    b.add_argument("--format", help="comma-separated report formats: html, pdf (default: both)")
    b.add_argument("--save-models", action="store_true", help="also write every run's .keras model to OUT/models")
    b.add_argument("--cache-dir", type=Path, help="folder of cached runs (default: .reportgen-cache next to the study file)")
    b.add_argument("--no-cache", action="store_true", help="neither read nor write the run cache")
    b.add_argument(
        "--force",
        action="store_true",
        help="write into a folder that holds files reportgen did not write; its report files are replaced, other files are kept",
    )
    b.add_argument(
        "--fail-on",
        metavar="CONDITION[,CONDITION]",
        default="",
        help=f"exit 1 after writing the report if a condition holds: {', '.join(FAIL_CONDITIONS)}",
    )
    b.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="train on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://10.0.0.5:8786); default: this machine",
    )
    b.add_argument(
        "--compare",
        type=Path,
        metavar="OLD",
        help="an earlier build (its output folder or results.json): a Changes section opens the report and summary.md",
    )
    b.add_argument("--quiet", action="store_true", help="no progress display, only errors")
    r = sub.add_parser("render", help="re-render a previous build's report from its output folder (no training)")
    r.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="the output folder of a previous build")
    r.add_argument("--out", type=Path, help="write the report here instead of into RESULTS_DIR")
    r.add_argument("--format", help="comma-separated report formats: html, pdf (default: the build's)")
    r.add_argument("--quiet", action="store_true", help="no progress display, only errors")
    j = sub.add_parser("judge", help="verdicts on replicate runs trained anywhere (a CSV table of runs), no training")
    j.add_argument("runs", type=Path, metavar="RUNS.csv", help="one row per run: variant, replicate, train_accuracy, ...")
    j.add_argument("--config", type=Path, required=True, help="study file whose [[variants]] say what each variant does")
    j.add_argument(
        "--out", type=Path, required=True, help="output folder: the report, summary.md, results.json, runs.csv, claims.csv"
    )
    j.add_argument("--format", help="comma-separated report formats: html, pdf (default: the study's output.formats, both)")
    j.add_argument("--force", action="store_true", help="write into a folder that holds files reportgen did not write")
    j.add_argument("--quiet", action="store_true", help="no progress display, only errors")
    x = sub.add_parser("export", help="export a finished build to a tracker (no training)")
    trackers = x.add_subparsers(dest="tracker", required=True, metavar="TRACKER")
    m = trackers.add_parser(
        "mlflow",
        help="a parent run per build (study settings as params, verdicts as tags and metrics, the report and tables as "
        "artifacts) and a nested run per run (final measures, losses per epoch as steps)",
    )
    m.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="the output folder of a build (or of reportgen judge)")
    m.add_argument("--tracking-uri", metavar="URI", help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else MLflow's)")
    m.add_argument("--experiment", metavar="NAME", help="MLflow experiment, made if needed (default: the study's title)")
    m.add_argument(
        "--again",
        action="store_true",
        help="export a build the experiment already holds once more (default: say where it is and export nothing)",
    )
    i = sub.add_parser("init", help="write the default study as a commented study file to start from")
    i.add_argument("path", nargs="?", type=Path, default=Path("study.toml"))
    i.add_argument("--force", action="store_true", help="overwrite an existing file")
    c = sub.add_parser("compare", help="say what changed between two builds (no training, no TensorFlow)")
    c.add_argument("old", type=Path, help="the earlier build: its output folder or its results.json")
    c.add_argument("new", type=Path, help="the later build: its output folder or its results.json")
    c.add_argument("--format", choices=("markdown", "json"), default="markdown", help="output format (default: markdown)")
    c.add_argument(
        "--fail-on",
        metavar="CONDITION[,CONDITION]",
        default="",
        help=f"exit 1 after printing if a condition holds: {', '.join(sorted(NEEDS_COMPARE))}",
    )
    return p


def _listed(items: list[str], limit: int = 5) -> str:
    """Name a few items, then say how many more."""
    return ", ".join(items[:limit]) + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _fail_conditions(text: str) -> list[str]:
    """Parse --fail-on; an unknown condition is an error that suggests the nearest one."""
    from reportgen.config import shorten

    names = [n.strip() for n in text.split(",") if n.strip()]
    problems = []
    for name in names:
        if name not in FAIL_CONDITIONS:
            close = difflib.get_close_matches(name, list(FAIL_CONDITIONS), n=1)
            hint = f"did you mean '{close[0]}'?" if close else f"choose from: {', '.join(FAIL_CONDITIONS)}"
            problems.append(f"--fail-on: unknown condition {shorten(name)!r}; {hint}")
    if problems:
        raise ConfigError(problems)
    return names


def _flags(args) -> dict:
    """Collect the flags that set study keys as typed values (never TOML text: a path may hold quotes or newlines)."""
    flags: dict = {}
    if args.format is not None:
        flags["output.formats"] = [f.strip() for f in args.format.split(",") if f.strip()]
    if args.out is not None:
        flags["output.dir"] = Path(os.path.abspath(args.out))  # relative to where the command runs, not the study
    if args.save_models:
        flags["output.save_models"] = True
    if args.scheduler is not None:
        flags["execution.scheduler"] = args.scheduler
    if args.no_cache:
        flags["output.cache"] = None
    elif args.cache_dir is not None:
        flags["output.cache"] = Path(os.path.abspath(args.cache_dir))
    return flags


def _out_label(args, out: Path, source: str) -> str:
    """Name the output folder as the user gave it: --out, --set output.dir, or the study file's output.dir."""
    from reportgen.config import shorten

    if args.out is not None:
        return f"--out {shorten(str(args.out), 100)}"
    by_set = any(item.partition("=")[0].strip() == "output.dir" for item in args.overrides)
    return f"{'--set' if by_set else source}: output.dir {shorten(str(out), 100)}"


def _preflight(args, config, held: contextlib.ExitStack) -> str:
    """Check the output folder, the run keys, the data and the memory this build needs; return its plan in one line."""
    source = str(args.config) if args.config else "default study"
    out_label = _out_label(args, config.output.dir, source)
    return preflight(config, args.config, args.force, out_label, source, held, _cache_label(args, source))


def preflight(
    config,
    study_file: Path | None,
    force: bool,
    out_label: str,
    source: str,
    held: contextlib.ExitStack,
    cache_label: str | None = None,
) -> str:
    """Check the output folder (named out_label in a problem), the run keys, the data and the memory a build needs
    (source: the study's name in problems), and hold the folder (in held, until the report is written: one build per
    folder); return its plan in one line. The command line and reportgen.build call it.

    When the run cache holds every run of generated data and their analysis, the build trains and measures nothing:
    the data are then drawn only once the report is laid out, and a damaged entry found later is trained with the
    same checks first (reportgen.pipeline)."""
    from reportgen import budget, outdir
    from reportgen.data import check_data
    from reportgen.pipeline import kept_throughout
    from reportgen.plan import check_unique, plan_runs
    from reportgen.sequential import at_look, first_look

    outdir.check(config.output.dir, study_file, force, out_label)
    held.enter_context(outdir.hold(config.output.dir, out_label))  # until the report is written: one build per folder
    runs = plan_runs(config)  # every replicate a budget allows: checked, and sized for memory, up front
    check_unique(runs, config.output.save_models, source)
    first = plan_runs(at_look(config, first_look(config)))
    adaptive = (
        f" (first {len(first):,} of them: {config.training.budget.min} replicates, then {config.training.budget.step} more "
        f"at a time while a verdict is borderline, up to {config.training.budget.max})"
        if config.training.budget
        else ""
    )
    if kept_throughout(config, first):
        return f"{len(first):,} models × {config.training.epochs:,} epochs, every one and their analysis in the run cache" + (
            ", then more replicates if a verdict is borderline" if adaptive else ""
        )
    shape = check_data(config)  # a bad data file fails here, before TensorFlow is imported
    if config.model.factory is not None:  # every variant's network built once: a bad factory fails before training
        from reportgen import factory

        factory.check_study(config, shape)
    est = budget.estimate(config, runs, shape)
    budget.check_fits(est, budget.available_memory(), source)
    _check_cache(config, runs, shape, cache_label or f"{source}: output.cache")
    if config.execution.scheduler is not None:  # an unreachable cluster fails here, before anything starts
        from reportgen.executor import connect

        connect(config.execution.scheduler).close()
    return ("up to " if adaptive else "") + est.line() + adaptive + _pace(config, runs, est.flops)


def _pace(config, runs, flops: float) -> str:
    """The plan line's expected training time on this machine (reportgen.pace) for the runs the cache does not hold;
    a build expected to train longer than pace.LONG says so and names --scheduler before it starts. Nothing on a
    cluster, whose speed this machine does not know."""
    from reportgen import pace
    from reportgen.cache import RunCache, run_keys

    if config.execution.scheduler is not None:
        return ""
    keys, store = run_keys(runs, config), RunCache(config.output.cache)
    todo = sum(store.claimed_digests([r], keys) is None for r in runs) if config.output.cache is not None else len(runs)
    if not todo:
        return ""
    if config.model.factory is not None and pace.rate(config, config.output.cache)[1] != "kept":
        return ""  # stock fit of a network the engine's rate says nothing about: a time once a build of it has trained
    seconds = pace.training_seconds(flops * todo / len(runs), config, config.output.cache)
    if seconds > pace.LONG:  # a warning, shown with --quiet too: it is about to cost the user their time
        print(
            f"reportgen: this build is expected to train for about {pace.say(seconds)} on this machine; "
            "--scheduler ADDRESS trains it on a Dask cluster instead",
            file=sys.stderr,
        )
    cached = f", {len(runs) - todo:,} models from the cache" if todo < len(runs) else ""
    return f"; training ≈ {pace.say(seconds)} here{cached}"


def _cache_label(args, source: str) -> str:
    """Where a study's run cache was set, as a problem names it: --cache-dir, --set or the study file."""
    by_set = any(item.partition("=")[0].strip() == "output.cache" for item in args.overrides)
    return "--cache-dir" if args.cache_dir is not None else f"{'--set' if by_set else source}: output.cache"


def _check_cache(config, runs, shape, where: str) -> None:
    """Refuse, before training, a run cache that cannot take the runs this build will train: a folder that cannot be
    made or written, or a disk without room for their entries (sized from each run's network, the epochs and
    snapshots)."""
    from reportgen.budget import network_weights
    from reportgen.cache import RunCache, entry_bytes, run_keys
    from reportgen.config import shorten

    cache = RunCache(config.output.cache)
    weights = lambda r: network_weights(config, shape, r.model(config.model).hidden_units)  # noqa: E731
    needed = sum(entry_bytes(r, config, weights(r)) for r in cache.missing(runs, run_keys(runs, config)))
    problem = cache.problem(needed) if needed else None
    if problem:
        raise ConfigError(
            [f"{where} {shorten(str(cache.folder), 100)}: {problem}; choose another folder with --cache-dir, or --no-cache"]
        )


def _build(args) -> int:
    """Check the study and the output folder, train, write the report, then apply --fail-on."""
    fail_on = _fail_conditions(args.fail_on)
    if NEEDS_COMPARE & set(fail_on) and args.compare is None:
        raise ConfigError(
            [f"--fail-on {', '.join(sorted(NEEDS_COMPARE & set(fail_on)))}: needs --compare OLD, the build to compare with"]
        )
    old = None
    if args.compare is not None:
        from reportgen.compare import load_results
        from reportgen.outdir import recover

        if args.compare.is_dir():
            recover(args.compare.resolve())  # a build killed while replacing its files: the previous ones back first
        old = (str(args.compare), load_results(args.compare))  # read before training: a bad path fails in a second
    from reportgen.helper import Helper

    # the helper (PDF layout, half the figures) starts first: it loads WeasyPrint while this process reads the study
    # and its cache, so a build that trains nothing can hand it the report as soon as the HTML is made
    with Helper() as helper:
        return _checked_build(args, fail_on, old, helper)


def _checked_build(args, fail_on: list[str], old, helper) -> int:
    """_build's work once the helper is started: read and check the study, build, say what was written."""
    from reportgen.config import load_config

    config = load_config(args.config, args.overrides, _flags(args))
    with contextlib.ExitStack() as held:
        return _held_build(args, fail_on, old, helper, config, held)


def _held_build(args, fail_on: list[str], old, helper, config, held: contextlib.ExitStack) -> int:
    """Check, build and say what was written, holding the output folder (held) from its check on."""
    plan = _preflight(args, config, held)
    if not args.quiet:
        print(f"✓ plan: {plan}", file=sys.stderr)
    import warnings

    warnings.simplefilter("ignore")  # library deprecation notes are noise to a report's reader; tests still see them
    from reportgen.pipeline import build  # imports TensorFlow: only once the study is known to be valid

    result = build(config, quiet=args.quiet, cancel=args.cancel, force=args.force, compare_with=old, helper=helper)
    if not args.quiet:
        for path in result.files:
            size = sum(f.stat().st_size for f in path.rglob("*")) if path.is_dir() else path.stat().st_size
            print(f"wrote {path} ({size / 1024:,.0f} KiB)")
    failed = {name: FAIL_CONDITIONS[name](result) for name in fail_on}
    for name, line in failed.items():
        if line:
            print(f"reportgen: --fail-on {name}: {line} (the report was written)", file=sys.stderr)
    return 1 if any(failed.values()) else 0


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


def _judge(args) -> int:
    """Judge a table of runs trained elsewhere against a study's claims and write its report, as a build writes one
    (the same output folder checks, lock and all-or-nothing swap)."""
    import warnings

    from rich.console import Console

    from reportgen import outdir
    from reportgen.config import load_config, shorten
    from reportgen.judging import judge, read_runs, write
    from reportgen.pipeline import _Stages

    flags = {"output.formats": [f.strip() for f in args.format.split(",") if f.strip()]} if args.format is not None else {}
    config = load_config(args.config, [], flags)
    out = Path(os.path.abspath(args.out))
    label = f"--out {shorten(str(args.out), 100)}"
    outdir.check(out, args.config, args.force, label)
    with outdir.hold(out, label):  # one writer per folder, builds and judges alike
        runs = read_runs(args.runs)
        stages = _Stages(Console(stderr=True, soft_wrap=True), args.quiet)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # library deprecation notes are noise, as in build
            with stages("claims"):
                judged = judge(runs, config, shorten(str(args.runs), 120))
            files = write(out, judged, config, config.output.formats, args.force, stages)
    if not args.quiet:
        for path in files:
            print(f"wrote {path} ({path.stat().st_size / 1024:,.0f} KiB)")
    if judged.missing:
        print(judged.missing_sentence(), file=sys.stderr)
    return 0


def _export(args) -> int:
    """Export a finished build to MLflow: no training, everything from its output folder."""
    from reportgen.export import to_mlflow

    done = to_mlflow(args.out_dir, args.tracking_uri, args.experiment, args.again)
    if done.already:
        print(
            f"{args.out_dir}: build {done.build_id[:12]} is already in MLflow experiment {done.experiment!r} as run "
            f"{done.parent_run_id}; nothing exported (--again exports another copy)"
        )
    else:
        print(
            f"exported {args.out_dir} to MLflow experiment {done.experiment!r} ({done.tracking_uri}): run "
            f"{done.parent_run_id} with {done.children} nested runs"
        )
    return 0


def _init(args) -> int:
    """Write the default study, every key commented."""
    from reportgen.config import commented_study

    if args.path.exists() and not args.force:
        raise ConfigError([f"{args.path}: already exists (use --force to overwrite)"])
    args.path.write_text(commented_study(), encoding="utf-8")
    print(f"wrote {args.path}: edit it, then run: reportgen build --config {args.path}")
    return 0


@contextlib.contextmanager
def _interrupts():
    """Turn the first SIGINT or SIGTERM into Interrupted in the main thread and a set event for training threads."""
    cancel = Cancel()

    def handler(signum, frame):
        if cancel.is_set():
            return  # a second signal must not cut short the clean-up the first one started
        cancel.signal_name = signal.Signals(signum).name
        cancel.set()
        raise Interrupted(cancel.signal_name)

    if threading.current_thread() is not threading.main_thread():
        yield cancel  # signal handlers can only be installed from the main thread
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


class _PipeSafe:
    """A text stream whose reader may have gone (`reportgen build | head -1`): then writes go nowhere, quietly."""

    def __init__(self, stream):
        self._stream, self._gone = stream, False

    def write(self, text: str) -> int:
        """Write, or drop the text once the reader has gone; what the stream's encoding lacks (an ASCII locale's, or
        PYTHONIOENCODING's) is written as backslash escapes, not a UnicodeEncodeError."""
        if not self._gone:
            try:
                try:
                    return self._stream.write(text)
                except UnicodeEncodeError:
                    encoding = getattr(self._stream, "encoding", None) or "ascii"
                    self._stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
                    return len(text)
            except BrokenPipeError:
                self._drop()
        return len(text)

    def flush(self) -> None:
        """Flush, unless the reader has gone."""
        if not self._gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._drop()

    def _drop(self) -> None:
        """Stop writing to a stream whose reader has gone."""
        self._gone = True
        # point the descriptor at /dev/null, or the interpreter's last flush at exit fails on the same pipe
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())
            os.close(devnull)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _report(err: BaseException) -> int:
    """Print a problem as one line per item (no traceback) and return its exit code."""
    from reportgen.config import shorten

    if isinstance(err, ConfigError):
        lines = err.lines
    elif isinstance(err, Interrupted):
        print(f"reportgen: {err}", file=sys.stderr)
        return err.exit_code
    elif isinstance(err, OSError):  # an unwritable output folder, a full disk: say what and where
        lines = [f"{err.strerror or err}: {shorten(str(err.filename or ''), 200)}".rstrip(": ")]
    else:
        lines = [str(err)]
    for line in lines:
        print(f"reportgen: error: {line}", file=sys.stderr)
    return getattr(err, "exit_code", 1)


def _compare(args) -> int:
    """Print what changed between two builds; reads their results.json only (no TensorFlow)."""
    import json

    from reportgen.compare import changes_json, compare, load_results, render_markdown

    fail_on = _fail_conditions(args.fail_on)
    if set(fail_on) - NEEDS_COMPARE:
        raise ConfigError(
            [
                f"--fail-on {', '.join(sorted(set(fail_on) - NEEDS_COMPARE))}: a condition of a build, not of a "
                f"comparison (compare takes {', '.join(sorted(NEEDS_COMPARE))})"
            ]
        )
    changes = compare(load_results(args.old), load_results(args.new), old_name=str(args.old), new_name=str(args.new))
    text = render_markdown(changes) if args.format == "markdown" else json.dumps(changes_json(changes), indent=1) + "\n"
    sys.stdout.write(text)
    failed = {name: _gate(_Compared(changes), *GATES[name]) for name in fail_on}
    for name, line in failed.items():
        if line:
            print(f"reportgen: --fail-on {name}: {line}", file=sys.stderr)
    return 1 if any(failed.values()) else 0


class _Compared:
    """What the --fail-on gates read of a comparison made by `reportgen compare` (a build's result holds the same)."""

    def __init__(self, changes):
        self.changes = changes


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PipeSafe(sys.stdout), _PipeSafe(sys.stderr)
    _matplotlib_config()
    try:
        args = _parser().parse_args(argv)
        with _interrupts() as args.cancel:
            commands = {
                "build": _build,
                "render": _render,
                "init": _init,
                "compare": _compare,
                "judge": _judge,
                "export": _export,
            }
            return commands[args.command](args)
    except (ReportgenError, OSError) as err:
        return _report(err)
    except KeyboardInterrupt:  # Ctrl-C before the handlers were installed
        print("reportgen: interrupted (SIGINT); the previous report was left as it was", file=sys.stderr)
        return 130
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved


def _matplotlib_config() -> None:
    """Give matplotlib (here and in the helper processes, which inherit it) a private config folder, removed at exit,
    when its own under HOME cannot be written: else every process warns on three lines and leaves a folder in /tmp."""
    if os.environ.get("MPLCONFIGDIR"):
        return
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no HOME and no password entry
        home = None
    folders = [
        Path(os.environ.get(variable) or (home / default if home else "")) / "matplotlib"
        for variable, default in (("XDG_CONFIG_HOME", ".config"), ("XDG_CACHE_HOME", ".cache"))
    ]
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
        if home is not None and all(os.access(f, os.W_OK | os.X_OK) for f in folders):
            return
    except OSError:
        pass
    import atexit
    import shutil
    import tempfile

    private = tempfile.mkdtemp(prefix="reportgen-matplotlib-")
    os.environ["MPLCONFIGDIR"] = private
    atexit.register(shutil.rmtree, private, True)


def _utf8_mode() -> None:
    """Under an ASCII locale without Python's UTF-8 mode (LC_ALL=C with PYTHONUTF8=0 and no C.UTF-8 to coerce to), a
    non-ASCII path reaches Python as lone surrogates that no UTF-8 report, results.json or PDF can hold: run this very
    command again in UTF-8 mode (file names are bytes on POSIX; UTF-8 reads them back as they were typed)."""
    if os.name != "posix" or sys.flags.utf8_mode or sys.getfilesystemencoding().lower().replace("-", "") == "utf8":
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, "-X", "utf8", *sys.orig_argv[1:]])


def run() -> None:
    """The `reportgen` command and `python -m reportgen`: main(), then leave without the interpreter's teardown.

    Freeing every module and object of a build (pandas, scipy, matplotlib, the runs) took 0.3 to 0.5 s after the last
    file was written. What a normal exit does that matters still happens: the atexit functions run (temporary folders'
    finalizers, multiprocessing, logging, TensorFlow's), and the output streams are flushed. A thread that is not a
    daemon, which a normal exit would wait for, keeps the normal exit."""
    import atexit

    _utf8_mode()
    code = main()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        raise SystemExit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()
    os._exit(code)
