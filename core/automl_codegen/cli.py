"""The ``automl-codegen`` command.

Only argparse is imported at start-up so ``--help`` answers at once; each subcommand
imports what it needs (torch only where a model is trained or weights are written).
"""

from __future__ import annotations

import argparse
import json
import stat
import sys
import warnings
from pathlib import Path
from typing import Any, NoReturn

from .errors import shown
from .tasks import TASKS

EPILOG = """examples:
  automl-codegen search --dataset digits --strategy evolution --objective accuracy -o runs/d1
  automl-codegen export runs/d1 --emitter pytorch -o out/
  automl-codegen train runs/d1 --epochs 60 -o final/
  automl-codegen generate runs/d1/best.json --emitter pytorch -o model.py
  automl-codegen generate --space darts-cell --genotype DARTS_V2 -o darts_v2.py
  automl-codegen report runs/d1
  automl-codegen plugins --json
"""


#: Longest error line printed; a longer message is cut (a 50 MB value is not echoed back).
MAX_ERROR_CHARS = 2000
#: Largest architecture file read (one of MAX_NODES nodes takes well under a kilobyte).
MAX_ARCHITECTURE_BYTES = 32 << 20


def _key_values(pairs: list[str], flag: str) -> dict[str, Any]:
    """``["k=v", ...]`` -> dict, values parsed as JSON when they parse (numbers, lists)."""
    from .errors import ConfigError

    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            msg = f"{flag} expects KEY=VALUE, got {shown(pair)}"
            raise ConfigError(msg)
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
        except RecursionError:  # "[[[[..." parses recursively; as a string it would only fail later
            msg = f"{flag} {shown(key)}: the value nests too deeply to be read as JSON"
            raise ConfigError(msg) from None
    return out


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in this command's one-line form (no usage block)."""

    def error(self, message: str) -> NoReturn:
        hint = ""
        if "expected one argument" in message:
            hint = " (a value that starts with '-' is written --flag=VALUE)"
        message = message if len(message) <= 300 else message[:297] + "..."
        self.exit(2, f"automl-codegen: error: {message}{hint}; see `{self.prog} --help`\n")


#: Per subcommand: what it does (shown by ``COMMAND --help``) and examples to copy.
_COMMANDS = {
    "search": (
        "run a search; trials, weights and the best architecture go to -o",
        "Search for architectures on a dataset: each trial trains a candidate network and\n"
        "measures it; the run directory holds the journal (resumable after a crash or\n"
        "Ctrl-C), every trial's weights, best.json and summary.json. The task (images,\n"
        "tables, sequences, regression) and the default space follow from the dataset.",
        [
            "automl-codegen search --budget-seconds 120 -o runs/d1",
            "automl-codegen search --objective accuracy --objective latency_ms --constraint 'params < 50000' -o r2",
            "automl-codegen search --dataset csv --dataset-option path=houses.csv --dataset-option target=price -o r3",
            "automl-codegen search --space my_spaces:wide_mlp --dataset waves --emitter tensorflow -o r4",
            "automl-codegen search --resume runs/d1 --budget-trials 10",
        ],
    ),
    "export": (
        "write the best (or a chosen) trial's code and trained weights",
        "Write a searched network as code with its trained weights: model.py + model.pt\n"
        "(pytorch), model_tf.py + weights (tensorflow), model.onnx (onnx), model.tflite\n"
        "(tflite). The best trial by default; --front also writes the Pareto front.",
        [
            "automl-codegen export runs/d1 -o out/",
            "automl-codegen export runs/d1 --emitter tensorflow --trial 7 -o out_tf/",
            "automl-codegen export runs/d1 --front front.csv",
        ],
    ),
    "train": (
        "retrain the best (or a chosen) trial from scratch, longer, on training + validation data",
        "Final training: train the chosen architecture from scratch for --epochs on the\n"
        "training and validation splits together, score it once on the test split, and\n"
        "write its code and weights.",
        [
            "automl-codegen train runs/d1 --epochs 60 -o final/",
            "automl-codegen train runs/d1 --trial 3 --epochs 100 --evaluator-option optimizer=sgd",
        ],
    ),
    "generate": (
        "write code for an architecture JSON file, or for a space's genotype (no weights)",
        "Write the code of an architecture without searching: from an IR JSON file (such\n"
        "as a run's best.json), or from a space and a genotype in its notation.",
        [
            "automl-codegen generate runs/d1/best.json -o model.py",
            "automl-codegen generate --space darts-cell --genotype DARTS_V2 -o darts_v2.py",
            "automl-codegen generate runs/d1/best.json --emitter onnx -o model.onnx",
        ],
    ),
    "report": (
        "write report.png (figure) and report.html (a self-contained page)",
        "Plot a run: objectives over trials, the Pareto front, what the strategy learnt;\n"
        "report.html embeds everything and needs no server.",
        ["automl-codegen report runs/d1", "automl-codegen report runs/d1 -o reports/ --no-html"],
    ),
    "plugins": (
        "list installed plugins and what they register",
        "List every installed plugin (built-in and third-party) by kind: strategies,\n"
        "spaces, objectives, profilers, emitters, datasets, evaluators, executors.",
        ["automl-codegen plugins", "automl-codegen plugins --options", "automl-codegen plugins --json"],
    ),
    "demo": (
        "a short search on digits that ends in model.py (about 2 minutes)",
        "The main job in one command: a two-objective search (accuracy, measured latency)\n"
        "on the embedded digits dataset, then the best network written as model.py.",
        ["automl-codegen demo", "automl-codegen demo --budget-seconds 60 -o runs/demo"],
    ),
}


def _subcommand(sub: Any, name: str) -> argparse.ArgumentParser:
    summary, description, examples = _COMMANDS[name]
    return sub.add_parser(
        name,
        help=summary,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


_RUN_DIR_HELP = "a run directory written by `automl-codegen search -o`"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="automl-codegen",
        description="Neural architecture search that ends in standalone model code.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    search = _subcommand(sub, "search")
    search.add_argument("--dataset", default="digits", help="dataset name (default: digits)")
    search.add_argument(
        "--task",
        choices=list(TASKS),
        help="what the data is for (default: the dataset's own; picks loss, metrics and default space)",
    )
    search.add_argument(
        "--space",
        help="search space: a registered name or package.module:attribute (default: the task's, "
        "chain-cnn for images, mlp for tables, seq-cnn for sequences)",
    )
    search.add_argument("--strategy", default="evolution", help="search strategy (default: evolution)")
    search.add_argument(
        "--objective",
        action="append",
        dest="objectives",
        metavar="NAME",
        help="objective to optimise; repeat for several (default: accuracy, or mse for regression)",
    )
    search.add_argument(
        "--constraint",
        action="append",
        dest="constraints",
        metavar="EXPR",
        default=[],
        help="hard limit such as 'latency_ms <= 2' or 'params < 50000'; repeatable",
    )
    search.add_argument("--budget-trials", type=int, metavar="N", help="number of trials")
    search.add_argument(
        "--budget-seconds",
        type=float,
        metavar="S",
        help="wall-clock budget in seconds, first trial included (default when neither budget is given: 180)",
    )
    search.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    search.add_argument("--epochs", type=int, default=15, help="training epochs per trial (default: 15)")
    search.add_argument(
        "--fidelity",
        choices=["auto", "none", "successive-halving", "hyperband"],
        default="auto",
        help=(
            "train most candidates briefly and promote the best to longer trainings (--epochs is the longest); "
            "auto (default): successive-halving under --budget-seconds, none: every trial trains --epochs"
        ),
    )
    search.add_argument("--min-epochs", type=int, metavar="N", help="--fidelity: epochs of the shortest training")
    search.add_argument("--eta", type=int, metavar="N", help="--fidelity: keep the best 1/N of each rung (default: 3)")
    search.add_argument(
        "--device",
        default="auto",
        metavar="DEVICE",
        help="auto (CUDA when present, else CPU), cpu, cuda or cuda:N (default: auto)",
    )
    search.add_argument("--executor", default="local", help="where trials run (default: local)")
    search.add_argument("--evaluator", default="train", help="how trials are scored (default: train)")
    search.add_argument(
        "--profiler",
        action="append",
        dest="profilers",
        metavar="NAME",
        help="profiler to run on each trained model; repeatable; 'none' for none (default: torch-cpu)",
    )
    for flag, what in (
        ("--dataset-option", "dataset"),
        ("--space-option", "search space"),
        ("--strategy-option", "strategy"),
        ("--evaluator-option", "evaluator"),
        ("--executor-option", "executor (e.g. workers=2)"),
    ):
        search.add_argument(flag, action="append", metavar="KEY=VALUE", default=[], help=f"{what} option; repeatable")
    search.add_argument("-o", "--output", metavar="RUN_DIR", help="new directory for the run")
    search.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help=(
            "continue a stopped or crashed run; with --budget-trials / --budget-seconds, search that much more "
            "(other search options are ignored)"
        ),
    )
    search.add_argument("--quiet", action="store_true", help="print nothing but errors")
    search.add_argument(
        "--emitter",
        metavar="EMITTER",
        help="after the search, write the best model with this emitter into RUN_DIR/export",
    )
    # The first release's name for --emitter, still accepted.
    search.add_argument("--export", dest="emitter", metavar="EMITTER", help=argparse.SUPPRESS)

    export = _subcommand(sub, "export")
    export.add_argument("run_dir", metavar="RUN_DIR", help=_RUN_DIR_HELP)
    export.add_argument("--emitter", default="pytorch", help="code emitter (default: pytorch)")
    export.add_argument("--trial", type=int, help="trial number (default: the best trial)")
    export.add_argument("-o", "--output", metavar="DIR", help="directory for model code and weights")
    export.add_argument("--front", metavar="FILE", help="also (or only) write the Pareto front to FILE (.csv or .json)")

    train = _subcommand(sub, "train")
    train.add_argument("run_dir", metavar="RUN_DIR", help=_RUN_DIR_HELP)
    train.add_argument("--trial", type=int, help="trial number (default: the best trial)")
    train.add_argument(
        "--epochs", type=int, required=True, help="training epochs, typically several times the search's"
    )
    train.add_argument(
        "-o", "--output", metavar="DIR", help="directory for model code and weights (default: RUN_DIR/final/trial_N_K)"
    )
    train.add_argument("--emitter", default="pytorch", help="code emitter (default: pytorch)")
    train.add_argument("--seed", type=int, help="seed for initialisation and data order (default: the run's)")
    train.add_argument("--device", help="device to train on (default: the run's)")
    train.add_argument(
        "--evaluator-option",
        action="append",
        metavar="KEY=VALUE",
        default=[],
        help="replaces the run's evaluator option, e.g. optimizer=sgd or warmup_epochs=5; repeatable",
    )
    train.add_argument("--quiet", action="store_true", help="print only the files written")

    generate = _subcommand(sub, "generate")
    generate.add_argument("architecture", metavar="ARCH.json", nargs="?", help="an architecture in the IR's JSON")
    generate.add_argument(
        "--space", help="instead of ARCH.json: a search space, e.g. nb201, darts-cell or package.module:attribute"
    )
    generate.add_argument("--genotype", metavar="TEXT", help="the genotype in the space's notation (with --space)")
    generate.add_argument(
        "--space-option", action="append", metavar="KEY=VALUE", default=[], help="search space option; repeatable"
    )
    generate.add_argument(
        "--input-shape", metavar="C,H,W", help="with --space: the input's shape, if the space needs it"
    )
    generate.add_argument(
        "--num-classes", type=int, metavar="N", help="with --space: the classes, if the space needs it"
    )
    generate.add_argument("--emitter", default="pytorch", help="code emitter (default: pytorch)")
    generate.add_argument("-o", "--output", required=True, metavar="FILE", help="file to write ('-' for stdout)")

    report = _subcommand(sub, "report")
    report.add_argument("run_dir", metavar="RUN_DIR", help=_RUN_DIR_HELP)
    report.add_argument("-o", "--output", metavar="OUT_DIR", help="directory for the report (default: RUN_DIR)")
    report.add_argument("--no-html", action="store_true", help="write only the figure")

    plugins = _subcommand(sub, "plugins")
    plugins.add_argument("--json", action="store_true", help="machine-readable output (options included)")
    plugins.add_argument("--options", action="store_true", help="list each plugin's options, types and defaults")

    demo = _subcommand(sub, "demo")
    demo.add_argument("-o", "--output", metavar="RUN_DIR", help="new run directory (default: runs/demo-<date>-<time>)")
    demo.add_argument("--budget-seconds", type=float, default=120, metavar="S", help="wall-clock budget (default: 120)")
    demo.add_argument("--seed", type=int, default=0, help="seeds the split, the strategy and training (default: 0)")
    return parser


def _cmd_search(args: argparse.Namespace) -> int:
    from .errors import ConfigError, Terminated
    from .search import NeuralArchitectureSearch

    if args.resume:
        budget = _budget(args)
        nas = NeuralArchitectureSearch.resume(args.resume, progress=not args.quiet, budget=budget)
        run_dir = args.resume
    elif not args.output:
        msg = "search needs -o/--output RUN_DIR for a new run, or --resume RUN_DIR to continue one"
        raise ConfigError(msg)
    else:
        nas = _new_search(args)
        run_dir = args.output
    if args.emitter:
        nas.registry.get("emitter", args.emitter)  # a misspelt emitter fails now, not after the search
    try:
        result = nas.search()
    except KeyboardInterrupt as exc:
        # SIGTERM (a scheduler's stop) exits 143 as the shell reports it; Ctrl-C 130.
        how, code = ("terminated (SIGTERM)", 143) if isinstance(exc, Terminated) else ("interrupted", 130)
        print(f"\n{how}; continue with: automl-codegen search --resume {run_dir}", file=sys.stderr)
        return code
    if not args.quiet:
        _print_summary(result)
    if result.best is None:
        print(f"automl-codegen: error: {result.failure_summary()}", file=sys.stderr)
        return 1
    if args.emitter:
        if not result.best.feasible:
            print(f"warning: exporting trial {result.best.number}, which violates the constraints", file=sys.stderr)
        written = result.export(args.emitter, Path(run_dir) / "export")
        if not args.quiet:
            print("exported: " + ", ".join(str(p) for p in written))
    return 0


def _new_search(args: argparse.Namespace) -> Any:
    from .search import NeuralArchitectureSearch

    return NeuralArchitectureSearch(
        task=args.task,
        dataset=args.dataset,
        space=args.space,
        strategy=args.strategy,
        objectives=args.objectives or None,
        constraints=args.constraints,
        budget=_budget(args),
        seed=args.seed,
        epochs=args.epochs,
        device=args.device,
        fidelity=_fidelity(args),
        evaluator=args.evaluator,
        executor=args.executor,
        profilers=_profilers(args.profilers),
        run_dir=args.output,
        progress=not args.quiet,
        dataset_options=_key_values(args.dataset_option, "--dataset-option"),
        space_options=_key_values(args.space_option, "--space-option"),
        strategy_options=_key_values(args.strategy_option, "--strategy-option"),
        evaluator_options=_key_values(args.evaluator_option, "--evaluator-option"),
        executor_options=_key_values(args.executor_option, "--executor-option"),
    )


def _budget(args: argparse.Namespace) -> dict[str, Any] | None:
    """The budget flags; ``None`` when neither is given (a new run's default, a resumed run's own)."""
    if args.budget_trials is None and args.budget_seconds is None:
        return None
    return {"trials": args.budget_trials, "seconds": args.budget_seconds}


def _fidelity(args: argparse.Namespace) -> str | dict[str, Any]:
    if args.fidelity in ("auto", "none"):
        if args.min_epochs is not None or args.eta is not None:
            from .errors import ConfigError

            msg = "--min-epochs and --eta tune multi-fidelity search; add --fidelity successive-halving (or hyperband)"
            raise ConfigError(msg)
        return args.fidelity
    options = {"min_epochs": args.min_epochs, "eta": args.eta}
    return {"schedule": args.fidelity, **{k: v for k, v in options.items() if v is not None}}


def _print_summary(result: Any) -> None:
    summary = result.summary()
    best, first = summary["best"], summary["best_of_first_generation"]
    print(
        f"\n{summary['trials']} trials ({summary['failed']} failed) in {summary['elapsed_s']:.0f} s -> {result.run_dir}"
    )
    for label, trial in (
        (f"best of the first {summary['first_generation_size']} (random) trials", first),
        ("best found", best),
    ):
        if trial:
            metrics = ", ".join(f"{k}={_fmt(v)}" for k, v in trial["metrics"].items())
            print(f"  {label}: trial {trial['number']}: {metrics}")
    name = result.objectives[0].name
    if summary["last_generation_mean"] is not None:
        size = summary["first_generation_size"]
        print(
            f"  mean {name}: first {size} trials {_fmt(summary['first_generation_mean'])}, "
            f"last {size} trials {_fmt(summary['last_generation_mean'])}"
        )
    if result.best is not None and not result.best.feasible:
        limits = ", ".join(str(c) for c in result.constraints)
        print(f"  no trial met the constraints ({limits}); the best found is the one that violates them least")
    if len(result.objectives) > 1:
        print(f"  Pareto front: {len(summary['pareto_front'])} trials")
    print(f"  export with: automl-codegen export {result.run_dir} --emitter pytorch -o {result.run_dir}/export")


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _cmd_export(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .search import SearchResult

    if not args.output and not args.front:
        msg = "export needs -o/--output DIR for the model, --front FILE for the Pareto front, or both"
        raise ConfigError(msg)
    result = SearchResult.load(args.run_dir)
    if args.output:
        for path in result.export(args.emitter, args.output, trial=args.trial):
            print(path)
    if args.front:
        print(result.export_front(args.front))
    return 0


def _profilers(given: list[str] | None) -> list[str]:
    """``--profiler`` values: none given means torch-cpu; ``none`` means none, and alone."""
    from .errors import ConfigError

    if not given:
        return ["torch-cpu"]
    if "none" in given:
        if len(given) > 1:
            others = ", ".join(p for p in given if p != "none")
            msg = f"--profiler none means no profiler, so it cannot go with {others}"
            raise ConfigError(msg)
        return []
    return given


def _cmd_report(args: argparse.Namespace) -> int:
    from .errors import RunDirectoryError
    from .search import SearchResult

    result = SearchResult.load(args.run_dir)
    try:
        report = result.plot(args.output, html=not args.no_html)
    except PermissionError as exc:
        if args.output is not None:
            raise
        # An archived run on a read-only disk: the default place is inside the run.
        msg = f"cannot write the report into the run directory ({exc.strerror}); write it elsewhere with -o OUT_DIR"
        raise RunDirectoryError(msg) from None
    for path in (report.figure_path, report.html_path):
        if path is not None:
            print(path)
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .search import SearchResult

    result = SearchResult.load(args.run_dir)
    chosen = "the best trial" if args.trial is None else f"trial {args.trial}"
    if not args.quiet:
        print(f"retraining {chosen} of {args.run_dir} for {args.epochs} epochs on training + validation data ...")
    final = result.retrain(
        args.epochs,
        args.trial,
        seed=args.seed,
        device=args.device,
        evaluator_options=_key_values(args.evaluator_option, "--evaluator-option"),
    )
    out = Path(args.output) if args.output else (Path(args.run_dir) / final.weights).with_suffix("")
    written = result.export(args.emitter, out, trial=final)
    if not args.quiet:
        searched = next(t for t in result.trials if t.number == final.number).metrics.get("test_accuracy")
        before = f" (after the search: {_fmt(searched)})" if searched is not None else ""
        print(
            f"trial {final.number}: test_accuracy {_fmt(final.metrics['test_accuracy'])}{before}, "
            f"{final.metrics['train_seconds']:.0f} s; weights: {Path(args.run_dir) / final.weights}"
        )
    for path in written:
        print(path)
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from .errors import ConfigError
    from .plugins import get_registry
    from .protocols import attribute

    registry = get_registry()
    metadata: dict[str, Any] = {}
    if args.space and args.architecture:
        msg = "generate takes ARCH.json or --space with --genotype, not both"
        raise ConfigError(msg)
    if args.space:
        if not args.genotype:
            msg = f"--space {args.space} needs --genotype TEXT (the genotype in the space's notation)"
            raise ConfigError(msg)
        space = _space_for_generate(registry, args)
        parse = attribute("search_space", space, "parse_genotype") or json.loads
        try:
            genotype = parse(args.genotype)
        except ConfigError:
            raise  # the space's own message
        except (ValueError, RecursionError) as exc:  # JSONDecodeError included; "[[[[..." recurses
            msg = f"--genotype {shown(args.genotype)} is not a {args.space} genotype: {str(exc)[:200]}"
            raise ConfigError(msg) from None
        arch = space.to_architecture(genotype)
        metadata = {"space": args.space, "genotype": genotype}
    elif args.architecture:
        arch = _read_architecture(Path(args.architecture))
    else:
        msg = "generate needs ARCH.json, or --space SPACE --genotype TEXT"
        raise ConfigError(msg)
    emitter = registry.get("emitter", args.emitter)
    if attribute("emitter", emitter, "artifact"):
        for path in _write_artifact(emitter, arch, metadata, args.output):
            print(path)
        return 0
    source = emitter.render(arch, metadata)
    if args.output == "-":
        sys.stdout.write(source)
    else:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(source)
        print(args.output)
    return 0


def _write_artifact(emitter: Any, arch: Any, metadata: Any, output: str) -> list[Path]:
    """An artifact emitter's files (untrained weights) at ``output``; companions beside it."""
    import tempfile

    from .errors import ConfigError
    from .protocols import attribute

    if output == "-":
        name = getattr(emitter, "name", None) or type(emitter).__name__
        msg = f"the {name} emitter writes a binary file, not text for stdout; give -o FILE"
        raise ConfigError(msg)
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    main_name = attribute("emitter", emitter, "file_name")
    written = []
    with tempfile.TemporaryDirectory(prefix=".automl-codegen-", dir=target.parent) as scratch:
        for path in emitter.export(arch, Path(scratch), None, metadata):
            # model.tflite -> net.tflite, model.tflite.json -> net.tflite.json
            final = target.with_name(path.name.replace(main_name, target.name, 1))
            Path(path).replace(final)
            written.append(final)
    return written


def _space_for_generate(registry: Any, args: argparse.Namespace) -> Any:
    """The space ``generate`` lowers a genotype with; the sizes it needs come from flags."""
    import inspect

    from .errors import ConfigError
    from .search import space_factory

    factory = space_factory(registry, args.space)
    sizes: dict[str, Any] = {}
    if args.input_shape is not None:
        try:
            sizes["input_shape"] = tuple(int(d) for d in args.input_shape.split(","))
        except ValueError:
            msg = f"--input-shape takes C,H,W as whole numbers, e.g. 1,28,28; got {args.input_shape[:80]!r}"
            raise ConfigError(msg) from None
    if args.num_classes is not None:
        sizes["num_classes"] = args.num_classes
    options = _key_values(args.space_option, "--space-option")
    for name in set(options) & {"input_shape", "num_classes"}:
        flag = f"--{name.replace('_', '-')}"
        msg = f"--space-option {name} is not a space option; give the size as {flag}"
        raise ConfigError(msg)
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    needed = [
        name
        for name in ("input_shape", "num_classes")
        if name not in sizes and name in parameters and parameters[name].default is inspect.Parameter.empty
    ]
    if needed:
        flags = " and ".join(f"--{name.replace('_', '-')}" for name in needed)
        msg = (
            f"--space {args.space} needs {flags} (the network's input and output sizes), "
            f"e.g. --input-shape 1,28,28 --num-classes 10"
        )
        raise ConfigError(msg)
    return factory(**sizes, **options)


def _read_architecture(path: Path) -> Any:
    from .architecture import Architecture
    from .errors import ArchitectureError

    try:
        # A FIFO would block and /dev/zero never end: a device or pipe is not opened, and
        # no file is read past the cap (a directory fails to open, with its own message).
        mode = path.stat().st_mode
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            msg = f"{str(path)!r} is not a regular file; an architecture file is JSON (best.json of a run, say)"
            raise ArchitectureError(msg)
        with path.open("rb") as file:
            data = file.read(MAX_ARCHITECTURE_BYTES + 1)
    except OSError as exc:
        msg = f"cannot read {str(path)!r}: {exc.strerror}"
        raise ArchitectureError(msg) from None
    if len(data) > MAX_ARCHITECTURE_BYTES:
        msg = f"{str(path)!r} is larger than {MAX_ARCHITECTURE_BYTES >> 20} MiB; an architecture file is far smaller"
        raise ArchitectureError(msg)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        msg = f"{str(path)!r} is not UTF-8 text; an architecture file is JSON (see best.json in a run directory)"
        raise ArchitectureError(msg) from None
    return Architecture.from_json(text)


def _cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import describe_plugins, get_plugin_manager, get_registry

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reported below, with the listing
        pm = get_plugin_manager()
        registry = get_registry(pm)
    rows = describe_plugins(registry)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        width = max((len(r["kind"]) for r in rows), default=4)
        for row in rows:
            dist = f"{row['distribution']} {row['version']}" if row["distribution"] else "(not installed)"
            print(f"{row['kind']:<{width}}  {row['name']:<18} {row['module']:<45} {dist}")
            detail = row["description"] or ", ".join(row.get("hooks", ()))
            if detail:
                print(f"{'':<{width}}  {'':<18} {detail}")
            if args.options and row["options"]:
                for option in row["options"]:
                    typed = f"{option['name']}: {option['type']} = {option['default']!r}"
                    print(f"{'':<{width}}      {typed}  {option['help']}")
    # Broken plugins go to stderr so --json output stays a plain list; the traceback
    # locates the failing line for the plugin's author.
    for error in pm.load_errors:
        print(f"broken: {error.source.describe()} {error.message}", file=sys.stderr)
        if error.traceback:
            print("  " + error.traceback.rstrip().replace("\n", "\n  "), file=sys.stderr)
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from .search import NeuralArchitectureSearch

    if args.output is None:
        from datetime import datetime

        args.output = f"runs/demo-{datetime.now():%Y%m%d-%H%M%S}"
    print(f"Searching chain-cnn architectures for scikit-learn digits for {args.budget_seconds:.0f} s ...")
    nas = NeuralArchitectureSearch(
        dataset="digits",
        objectives=["accuracy", "latency_ms"],
        budget={"seconds": args.budget_seconds},
        seed=args.seed,
        run_dir=args.output,
    )
    result = nas.search()
    _print_summary(result)
    written = result.export("pytorch", Path(args.output) / "export")
    print("\nGenerated code: " + ", ".join(str(p) for p in written))
    print(
        f"Use it: python -c \"import sys; sys.path.insert(0, '{Path(args.output) / 'export'}'); "
        f"from model import build_model; print(build_model('{Path(args.output) / 'export' / 'model.pt'}'))\""
    )
    return 0


COMMANDS = {
    "search": _cmd_search,
    "export": _cmd_export,
    "train": _cmd_train,
    "generate": _cmd_generate,
    "report": _cmd_report,
    "plugins": _cmd_plugins,
    "demo": _cmd_demo,
}


#: The exit status of an unexpected exception (a bug); 2 is a usage or input error.
INTERNAL_ERROR = 1


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv``; returns the exit status.

    0: done; 2: the input was refused, said in one ``automl-codegen: error:`` line;
    130/143: stopped by Ctrl-C / SIGTERM; 1: a bug, printed with its traceback and a line
    that says whose (this package's or the plugin's the traceback ends in).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from . import __version__

        print(f"automl-codegen {__version__}")
        return 0
    if not args.command:
        _error(f"a command is needed: one of {', '.join(COMMANDS)}; see `automl-codegen --help`")
        return 2
    from .errors import AutoMLCodeGenError

    # Plugin load failures are warnings; show them as one line, not with a source excerpt.
    # Restored afterwards: main() may be called by a program with warnings of its own.
    formatwarning = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *rest, **kw: f"warning: {message}\n"
    try:
        return COMMANDS[args.command](args)
    except AutoMLCodeGenError as exc:
        _error(str(exc))
        return 2
    except OSError as exc:  # a path given, or inside a run directory: missing, a directory, read-only, full
        _error(_os_error(exc))
        return 2
    except KeyboardInterrupt:
        print("\nautoml-codegen: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # the boundary: whatever else escapes is a bug
        import traceback

        traceback.print_exc()
        print(_internal_error(exc), file=sys.stderr)
        return INTERNAL_ERROR
    finally:
        warnings.formatwarning = formatwarning


def _error(message: str) -> None:
    """The one error line: a message over several lines is joined, a very long one cut."""
    line = " ".join(part.strip() for part in message.splitlines() if part.strip())
    if len(line) > MAX_ERROR_CHARS:
        line = f"{line[: MAX_ERROR_CHARS - 40]}... ({len(line):,} characters in all)"
    print(f"automl-codegen: error: {line}", file=sys.stderr)


def _internal_error(exc: BaseException) -> str:
    """The line after a bug's traceback: what was raised, and whom to tell."""
    text = " ".join(str(exc).split())
    what = f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__
    plugin = _plugin_at_fault(exc)
    if plugin is not None:
        whose = f"a bug in the plugin {plugin}; please report it to its authors"
    else:
        whose = "a bug in automl-codegen; please report it"
    return f"automl-codegen: internal error: {what} — this is {whose} with the traceback above"


def _plugin_at_fault(exc: BaseException) -> str | None:
    """The third-party plugin (distribution and module) of the innermost frame that is ours or a plugin's.

    Frames of libraries (torch, numpy) are passed over: the question is whose call went wrong.
    ``None`` when that frame is this package's, its built-in plugins', or none is found.
    """
    import traceback
    from importlib import metadata

    from .plugins import ENTRY_POINT_GROUP

    plugins: dict[str, str] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        plugins.setdefault(ep.value.partition(":")[0].split(".")[0], dist)
    ours = {"automl_codegen", "automl_codegen_plugins"}
    for frame, _line in reversed(list(traceback.walk_tb(exc.__traceback__))):
        module = frame.f_globals.get("__name__", "")
        top = module.split(".")[0]
        if top in ours:
            return None
        if top in plugins:
            return f"{plugins[top]} ({module})"
    return None


def _os_error(exc: OSError) -> str:
    """An OSError in one line: what, on which path, and what to check."""
    paths = " -> ".join(repr(str(p)) for p in (exc.filename, exc.filename2) if p is not None)
    what = exc.strerror or type(exc).__name__
    if isinstance(exc, FileExistsError) and exc.filename is not None and Path(exc.filename).is_file():
        what = "A file is where a directory should be"  # mkdir of x.json/out: not "File exists"
    where = f": {paths}" if paths else ""
    return f"{what}{where} (check that the path is the file or directory expected, writable, with room on its disk)"


if __name__ == "__main__":
    raise SystemExit(main())
