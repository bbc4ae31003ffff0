"""The `steepest` command. Every user mistake ends as one line on stderr and exit status 2."""

import argparse
import json
import os
import re
import signal
import sys
import warnings
from functools import partial
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from steepest.errors import UserError

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE  # what a shell reports for a tool SIGPIPE stopped


def _train(args: argparse.Namespace) -> None:
    from steepest.config import load_experiments
    from steepest.report.plots import plot_run
    from steepest.training import train, write_outputs

    experiments = load_experiments(args.experiment)
    overrides = {key: value for key, value in (("out", args.out), ("device", args.device)) if value}
    experiments = [
        e.model_copy(update={"train": e.train.model_copy(update=overrides)}) for e in experiments
    ]
    console = Console(stderr=True, quiet=args.quiet or args.json)
    args.after_interrupt = partial(_resume_hint, experiments[0].train.out)
    run = train(
        experiments, population=args.population, console=console, write=False, resume=args.resume
    )
    summary = write_outputs(run)
    summary["plots"] = [str(p) for p in plot_run(run.out)]
    if args.json:
        print(json.dumps(summary))
        return
    out = Console(quiet=args.quiet)
    monitored = summary["metric"] if summary["monitor"] == "val_metric" else "loss"
    who = (
        ""
        if summary["members"] == 1
        else f" of {summary['members']} members: {summary['best_label']},"
    )
    out.print(
        f"best{who} epoch {summary['best_epoch']}, "
        f"val {monitored} {summary['best_val']:.4f}, {_test_figures(summary)}"
    )
    if "pca_components" in summary:
        out.print(
            f"PCA: {summary['pca_components']} components keep "
            f"{summary['pca_variance_kept']:.1%} of the training split's variance"
        )
    if "target_sd" in summary:
        out.print(
            f"targets standardised with the training split's mean {summary['target_mean']:.4g} "
            f"and sd {summary['target_sd']:.4g}: losses are of the standardised targets, "
            f"{summary['metric']} in the data's units"
        )
    if summary["diverged"]:
        best_too = summary["best_label"] in summary["diverged"] or summary["members"] == 1
        out.print(
            f"{len(summary['diverged'])} of {summary['members']} members diverged (a NaN or "
            f"infinite loss; lr too high?): {', '.join(summary['diverged'])}"
            + ("; the best is from an epoch before it did" if best_too else "")
        )
    written = ["history.csv", "members.json", "summary.json", "best.pt"]
    written += [Path(p).name for p in summary["plots"]]
    out.print(f"files: {run.out}/ ({', '.join(written)})")


def _tune(args: argparse.Namespace) -> None:
    import optuna

    from steepest.tune.run import retrain_best, tune

    console = Console(stderr=True, quiet=args.quiet or args.json)
    args.after_interrupt = lambda: (
        "; finished trials are in the study: run the same command to go on"
    )
    # Optuna's log lines are not the command's: INFO ("A new study created ...") and
    # QMC's warning that it assumes no conditions (steepest draws conditional entries
    # apart, by the trial's own sampler), printed even with --quiet
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    result = tune(
        args.experiment, args.storage, args.seed, args.trials, console=console, device=args.device
    )
    summary = result.summary
    if args.final and summary["best_trial"] is not None:
        summary["final"] = retrain_best(args.experiment, result.study)
    elif args.final:
        console.print("--final: no trial has completed, so there is nothing to retrain")
    if args.json:
        print(json.dumps(summary))
        return
    out = Console(quiet=args.quiet)
    if summary["ran_now"] == 0 and summary["trials"]:
        out.print(
            f"study {summary['study']}: nothing left to run (its budget of trials is spent); "
            "raise [tune] trials or pass --trials to run more",
            markup=False,  # "[tune]" is no style tag
        )
    interrupted = summary["interrupted"]
    requeued = f", {interrupted} interrupted and queued again" if interrupted else ""
    out.print(
        f"study {summary['study']}: {summary['trials']} trials ({summary['complete']} complete, "
        f"{summary['pruned']} pruned, {summary['failed']} failed{requeued}) "
        f"in {summary['seconds']:.1f} s"
    )
    metric = summary["metric"]
    out.print(f"best {metric} {summary['best_value']} with {summary['best_params']}")
    if "final" in summary:
        final = summary["final"]
        out.print(
            f"best trial retrained in {final['out']}: {metric} {final['val']:.4f}; "
            f"{_test_figures(final)}"
        )


def _test_figures(figures: dict) -> str:
    """'test accuracy 0.9722, test loss 0.0912' from a summary's test_<name> keys, or
    'no test split' (test_fraction = 0)."""
    tested = [
        f"test {k.removeprefix('test_')} {v:.4f}"
        for k, v in figures.items()
        if k.startswith("test_")
    ]
    return ", ".join(tested) or "no test split"


def _report(args: argparse.Namespace) -> None:
    from steepest.report.html import write_report
    from steepest.report.source import study_to_report
    from steepest.tune.lease import worker_alive

    study = study_to_report(args.storage, args.study)
    path = write_report(study, args.output, partial(worker_alive, storage=args.storage))
    print(f"report: {path}")


def _data(args: argparse.Namespace) -> None:
    from steepest.data import describe, names

    if args.action == "pngs":
        _write_digit_pngs(args.name)
        return
    if args.action == "list":
        if args.name is not None:
            raise UserError(f"steepest data list takes no NAME (got {args.name!r})")
        for name in names():
            info = describe(name)
            print(f"{name:15s} {info['task']:15s} {info['shape']}")
        return
    if args.name is None:
        raise UserError("steepest data show NAME: name a data set (see steepest data list)")
    print(json.dumps(describe(args.name), indent=2))


def _write_digit_pngs(folder: str | None) -> None:
    """`steepest data pngs DIR`: the digits as an image folder, for the image examples."""
    from steepest.data.images import write_digits_pngs

    if folder is None:
        raise UserError("steepest data pngs DIR: name the folder to write the digit images to")
    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UserError(f"steepest data pngs {folder}: already exists and is not an empty folder")
    try:
        write_digits_pngs(target)
    except OSError as error:
        raise UserError(f"steepest data pngs {folder}: cannot write there ({error})") from None
    count = sum(1 for _ in target.glob("*/*.png"))
    print(f"wrote {count} handwritten digits as 8×8 grey PNGs to {target}/0 … {target}/9")


def _add_run_flags(command: argparse.ArgumentParser, quiet_help: str) -> None:
    """The flags `train` and `tune` share: where to run and what to print."""
    from steepest.config import DEVICES  # torch, through its schedules: see `parser`

    command.add_argument("--device", choices=DEVICES, help="default: [train] device (auto)")
    command.add_argument("--quiet", action="store_true", help=quiet_help)
    command.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def _population(text: str) -> int | str:
    """--population: a number of members, or auto (as [train] population takes)."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a number or auto") from None


def _folder(text: str) -> Path:
    """A folder named on the command line; "" (which Path reads as the current folder,
    where a run would then write its files) is refused, as `out = ""` is in a file."""
    if not text:
        raise argparse.ArgumentTypeError("expected a folder, not an empty string")
    return Path(text)


class _Parser(argparse.ArgumentParser):
    """argparse's parser with a usage mistake in one line, as every other mistake is
    (argparse prints its usage block first), naming where the options are listed."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{message} (see {self.prog} --help)")


def parser() -> argparse.ArgumentParser:
    root = _Parser(
        prog="steepest", description="Train neural networks and tune them, many at once."
    )
    commands = root.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train the members an experiment file describes")
    train.add_argument("experiment", type=Path)
    train.add_argument(
        "--population", type=_population, help="members trained at once, or auto (measured)"
    )
    train.add_argument("--out", type=_folder, help="output folder (default: [train] out)")
    train.add_argument("--resume", action="store_true", help="continue a killed run")
    _add_run_flags(train, quiet_help="print nothing but errors (no progress bar nor summary)")
    train.set_defaults(run=_train)

    tune = commands.add_parser("tune", help="run or continue the study of an experiment file")
    tune.add_argument("experiment", type=Path)
    tune.add_argument("--storage", help="journal file or Optuna storage URL (sqlite, postgresql)")
    tune.add_argument("--seed", type=int, help="sampler seed: same trials, same values")
    tune.add_argument("--trials", type=int, help="trial budget (default: [tune] trials)")
    tune.add_argument("--final", action="store_true", help="retrain the best trial, test it")
    _add_run_flags(tune, quiet_help="print nothing but errors (no live table nor summary)")
    tune.set_defaults(run=_tune)

    report = commands.add_parser("report", help="a study as one self-contained HTML file")
    report.add_argument("storage", help="journal file (runs/NAME.log) or Optuna storage URL")
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        default=Path("report.html"),
        help="the HTML file to write (default: report.html here; an existing one is replaced)",
    )
    report.add_argument("--study", help="study name (needed when the storage holds several)")
    report.set_defaults(run=_report)

    data = commands.add_parser("data", help="built-in data sets; digits as PNG folders")
    data.add_argument("action", choices=["list", "show", "pngs"])
    data.add_argument(
        "name", nargs="?", metavar="NAME|DIR", help="data set to show, or folder pngs writes"
    )
    data.set_defaults(run=_data)
    from steepest import gradcheck, playground  # torch: imported inside `_run`'s handling

    gradcheck.add_command(commands)
    playground.add_command(commands)
    return root


_python_format = warnings.formatwarning


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """steepest's own warnings (unreadable images skipped, a cache not written) as one
    line, like its errors; other libraries' keep Python's format, which points at code."""
    if Path(filename).resolve().is_relative_to(Path(__file__).resolve().parent):
        return f"steepest: warning: {message}\n"
    return _python_format(message, category, filename, lineno, line)


def _resume_hint(out: Path) -> str:
    """What an interrupted `steepest train` left to go on from, if anything."""
    from steepest.training import CHECKPOINT

    if not (out / CHECKPOINT).is_file():
        return ""
    return f"; {out / CHECKPOINT} holds the last finished epoch: add --resume to go on"


def _run(argv: list[str] | None) -> int:
    """Parse the command line and run the command; the exit status."""
    args = argparse.Namespace()
    try:
        args = parser().parse_args(argv)
        args.run(args)
    except UserError as error:
        print(f"steepest: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (MemoryError, RuntimeError) as error:
        if not (message := _out_of_memory(error)):
            raise
        print(f"steepest: error: {message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        hint = getattr(args, "after_interrupt", lambda: "")()
        print(f"steepest: interrupted{hint}", file=sys.stderr)
        return 130
    finally:  # on SystemExit too (gradcheck exit 1): a closed pipe fails here, not at exit
        sys.stdout.flush()
    return 0


def _out_of_memory(error: BaseException) -> str:
    """One line for an allocation that failed (hidden = [100000000]: the network is the
    user's input), or "" for any other error. torch's CPU allocator raises a RuntimeError
    whose text alone says so; CUDA's, an OutOfMemoryError (a RuntimeError too)."""
    text = str(error)
    if not (
        isinstance(error, MemoryError)
        or "can't allocate memory" in text
        or type(error).__name__ == "OutOfMemoryError"
    ):
        return ""
    asked = re.search(r"allocate (\d+) bytes", text)
    size = f" ({int(asked.group(1)) / 2**30:.1f} GiB at once)" if asked else ""
    return (
        f"out of memory{size}: a smaller network, batch_size or population "
        "(--population) needs less"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    warnings.formatwarning = _one_line_warning
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader left (`steepest data list | head -2`): stop quietly, as Unix tools do.
        # Python's documented recipe: stdout to /dev/null, where the flush at exit succeeds.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
