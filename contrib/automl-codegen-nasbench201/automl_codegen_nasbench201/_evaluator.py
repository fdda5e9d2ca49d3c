"""The ``nasbench201`` evaluator: scores an ``nb201`` cell by looking it up, not training it."""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from automl_codegen import ConfigError
from automl_codegen.evaluation import Evaluation
from automl_codegen.options import OptionError, PluginOptions, check, finite_number, structure_options

from ._datasets import PREFIX
from ._natsbench import NatsBenchTable, is_nats_bench_path
from ._table import DATASETS, load_accuracy_table, load_device_table

__all__ = [
    "DEFAULT_LATENCY_COLUMN",
    "DEFAULT_TABLE",
    "DEVICE_MEASUREMENTS",
    "TABLE_ENV_VAR",
    "NasBench201Evaluator",
    "NasBench201Options",
]

TABLE_ENV_VAR = "AUTOML_CODEGEN_NB201_TABLE"
#: Where the table is looked for when neither the option nor the variable names one: the
#: workspace's copy beside the project checkout (relative to the working directory).
DEFAULT_TABLE = "../shared/data/nasbench201/nb201_accuracy.csv"
DEFAULT_LATENCY_COLUMN = "pi5_onnx_latency_ms"
#: The columns of ``nb201_device_latency.csv``: measurement -> (unit, description).
DEVICE_MEASUREMENTS: dict[str, tuple[str, str]] = {
    "pi5_litert_latency_ms": ("ms", "Raspberry Pi 5, LiteRT"),
    "pi5_onnx_latency_ms": ("ms", "Raspberry Pi 5, ONNX Runtime"),
    "pi5_torchmobile_latency_ms": ("ms", "Raspberry Pi 5, PyTorch Mobile"),
    "pixel_litert_latency_ms": ("ms", "Pixel phone, LiteRT"),
    "pi5_litert_energy_mj": ("mJ", "Raspberry Pi 5, LiteRT"),
    "pi5_onnx_energy_mj": ("mJ", "Raspberry Pi 5, ONNX Runtime"),
    "pi5_torchmobile_energy_mj": ("mJ", "Raspberry Pi 5, PyTorch Mobile"),
}

_NAME = "nasbench201"
_SPACE = "nb201"


def _is_path(value: Any) -> bool:
    return isinstance(value, str | os.PathLike) and bool(str(value))


_file_path = check(_is_path, "a file path", optional=True)
_seconds = finite_number(0, low_open=True, optional=True, expected="a positive number of seconds")


@attrs.frozen(kw_only=True)
class NasBench201Options(PluginOptions):
    """The options of :class:`NasBench201Evaluator`, checked (see its docstring)."""

    unknown_message = "{owner} has no option(s) {unknown}; its options: {names}"

    table: str | os.PathLike[str] | None = attrs.field(
        default=None,
        validator=_file_path,
        metadata={
            "help": f"nb201_accuracy.csv or the NATS-Bench archive; None: ${TABLE_ENV_VAR}, else {DEFAULT_TABLE}"
        },
    )
    dataset: str | None = attrs.field(
        default=None,
        validator=check(
            lambda v: isinstance(v, str) and v in DATASETS,
            ", ".join(DATASETS),
            optional=True,
            message="{owner}: unknown dataset {value!r}; choose one of {expected}",
        ),
        metadata={"help": "cifar10, cifar100 or imagenet16; None: the one the run's dataset names"},
    )
    latency_table: str | os.PathLike[str] | None = attrs.field(
        default=None, validator=_file_path, metadata={"help": "nb201_device_latency.csv, for hardware-aware searches"}
    )
    latency_column: str | None = attrs.field(
        default=None,
        validator=check(lambda v: isinstance(v, str), "a column name", optional=True),
        metadata={"help": f"the device measurement reported as latency_ms; None: {DEFAULT_LATENCY_COLUMN}"},
    )
    time_budget: float | None = attrs.field(
        default=None,
        validator=_seconds,
        metadata={"help": "stop once the simulated training time of the trials reaches this many seconds"},
    )
    seconds_per_query: float | None = attrs.field(
        default=None, validator=_seconds, metadata={"help": "simulated training seconds charged per trial, > 0"}
    )

    def __attrs_post_init__(self) -> None:
        if self.latency_column is not None and self.latency_table is None:
            raise OptionError(
                "{owner}: latency_column needs latency_table=PATH (nb201_device_latency.csv)",
                owner=type(self).__name__,
            )


class NasBench201Evaluator:
    """Looks the 12-epoch validation accuracy of an ``nb201`` cell up in NAS-Bench-201.

    The NATS-Bench protocol: the search sees ``accuracy``, the 12-epoch validation
    accuracy; ``test_accuracy``, the 200-epoch test accuracy, is what a run reports
    (the engine never optimises it). Metrics, accuracies as fractions:

    * ``accuracy``: 12-epoch validation accuracy (the search signal);
    * ``test_accuracy``: 200-epoch test accuracy (the figure to report);
    * ``test_accuracy_12ep``: 12-epoch test accuracy;
    * ``benchmark_index``: the architecture's index in NAS-Bench-201;
    * ``train_seconds``: simulated 12-epoch training time, when known (see ``time_budget``);
    * with ``latency_table``: every device measurement (``pi5_onnx_latency_ms``, ...) and
      ``latency_ms``, the one named by ``latency_column``.

    Args:
        table: the accuracy table ``nb201_accuracy.csv``, or the official NATS-Bench
            archive (directory ``NATS-tss-v1_0-3ffb9-simple`` or file
            ``NATS-tss-v1_0-3ffb9.pickle.pbz2``, read with the ``nats_bench`` package).
            Default: ``$AUTOML_CODEGEN_NB201_TABLE``, else
            ``../shared/data/nasbench201/nb201_accuracy.csv``.
        dataset: ``cifar10``, ``cifar100`` or ``imagenet16`` (ImageNet16-120). Default:
            the one the run's dataset names (``nb201-cifar100`` -> ``cifar100``).
        latency_table: ``nb201_device_latency.csv``, for hardware-aware searches.
        latency_column: the device measurement reported as ``latency_ms`` (default
            ``pi5_onnx_latency_ms``); needs ``latency_table``.
        time_budget: stop the search once the simulated training time of its trials
            reaches this many seconds (NATS-Bench's budgeted protocol); needs training
            times: the NATS-Bench archive has them, the compact CSV does not (unless it
            has ``<ds>_train_seconds_12ep`` columns), else give ``seconds_per_query``.
        seconds_per_query: simulated training seconds charged per trial, > 0.

    Raises:
        ConfigError: an unknown option, a bad value, or a missing or malformed table;
            the message says which, and where to put or how to pass the table.
    """

    # A lookup needs the genotype, not the network: the engine skips lowering it (most of
    # a query's cost otherwise) and lowers only what the run exports.
    needs_architecture = False

    Options = NasBench201Options

    def __init__(self, **options: Any) -> None:
        self.options = o = structure_options(self.Options, options, owner=f"evaluator {_NAME!r}")
        self.dataset = o.dataset
        self.time_budget = None if o.time_budget is None else float(o.time_budget)
        self.seconds_per_query = None if o.seconds_per_query is None else float(o.seconds_per_query)
        self.table = _open_table(o.table)
        self.device_table = None
        self.latency_column = None
        if o.latency_table is not None:
            self.device_table = load_device_table(Path(o.latency_table))
            self.latency_column = o.latency_column or DEFAULT_LATENCY_COLUMN
            if self.latency_column not in self.device_table.columns:
                msg = (
                    f"evaluator {_NAME!r}: latency_column {self.latency_column!r} is not a column of "
                    f"{self.device_table.path}; its columns: {', '.join(self.device_table.columns)}"
                )
                raise ConfigError(msg)
        self._timed = self.seconds_per_query is not None or any(self.table.has_times(d) for d in DATASETS)
        if self.dataset is not None:
            self._check_dataset(self.dataset)

        #: What ``evaluate`` returns (the engine checks objectives against it).
        self.measures: tuple[str, ...] = ("accuracy", "test_accuracy", "test_accuracy_12ep", "benchmark_index")
        if self._timed:
            self.measures += ("train_seconds",)
        if self.device_table is not None:
            self.measures += (*self.device_table.columns, "latency_ms")
        #: Wall-clock seconds spent in :meth:`lookup` and how many lookups (for benchmarks).
        self.lookup_seconds = 0.0
        self.lookups = 0
        #: Simulated training seconds of the trials recorded in this search so far.
        self.simulated_seconds = 0.0
        self._resolved: dict[str | None, str] = {}

    # -- scoring -------------------------------------------------------------------------

    def evaluate(self, architecture: Any, context: Any) -> Evaluation:
        """The table's results for the trial's genotype (``context.genotype``).

        The architecture itself is not needed: the genotype (the cell string, or the
        benchmark index) identifies the benchmark's network.
        """
        if context.space not in (None, _SPACE):
            msg = f"evaluator {_NAME!r} looks up cells of the {_SPACE} space, but this search uses {context.space!r}"
            raise ConfigError(msg)
        if context.genotype is None:
            msg = (
                f"evaluator {_NAME!r} needs the trial's genotype (EvaluationContext.genotype): "
                f"run it through NeuralArchitectureSearch with space {_SPACE!r}"
            )
            raise ConfigError(msg)
        return Evaluation(metrics=self.lookup(context.genotype, self.dataset_for(context.dataset.name)))

    def lookup(self, genotype: Any, dataset: str) -> dict[str, float]:
        """The metrics of a cell string (any input order) or benchmark index on ``dataset``."""
        started = time.perf_counter()
        try:
            record = self.table.lookup(genotype, dataset)
            metrics = {
                "accuracy": _fraction(record.valid_12ep),
                "test_accuracy": _fraction(record.test_200ep),
                "test_accuracy_12ep": _fraction(record.test_12ep),
                "benchmark_index": float(record.index),
            }
            seconds = self.seconds_per_query if self.seconds_per_query is not None else record.train_seconds
            if seconds is not None:
                metrics["train_seconds"] = seconds
            if self.device_table is not None:
                device = self.device_table.lookup(record.index)
                metrics.update(device)
                metrics["latency_ms"] = device[self.latency_column]
            return metrics
        finally:
            self.lookup_seconds += time.perf_counter() - started
            self.lookups += 1

    def dataset_for(self, run_dataset: str | None) -> str:
        """Which benchmark dataset to look up for a run on ``run_dataset`` (ConfigError if unclear)."""
        resolved = self._resolved.get(run_dataset)
        if resolved is not None:
            return resolved
        implied = None
        if run_dataset is not None and run_dataset.startswith(PREFIX):
            implied = run_dataset[len(PREFIX) :]
        if self.dataset is not None and implied is not None and implied != self.dataset:
            msg = (
                f"evaluator {_NAME!r} has dataset={self.dataset!r}, but the search runs on {run_dataset!r}; "
                f"use --dataset {PREFIX}{self.dataset} or drop the evaluator's dataset option"
            )
            raise ConfigError(msg)
        dataset = self.dataset or implied
        if dataset not in DATASETS:
            choices = ", ".join(PREFIX + d for d in DATASETS)
            msg = (
                f"evaluator {_NAME!r} does not know which NAS-Bench-201 results to look up for the "
                f"dataset {run_dataset!r}: search on one of {choices} (--dataset), or pass "
                f"--evaluator-option dataset=NAME with NAME one of {', '.join(DATASETS)}"
            )
            raise ConfigError(msg)
        self._check_dataset(dataset)
        self._resolved[run_dataset] = dataset
        return dataset

    def _check_dataset(self, dataset: str) -> None:
        if not self.table.has_dataset(dataset):
            missing = ", ".join(self.table.missing_columns(dataset))
            msg = f"{self.table.path} has no {dataset} results: it lacks the column(s) {missing}"
            raise ConfigError(msg)
        if self.time_budget is not None and self.seconds_per_query is None and not self.table.has_times(dataset):
            msg = (
                f"evaluator {_NAME!r}: time_budget needs simulated training times, and {self.table.path} has "
                f"none for {dataset} (no column {dataset}_train_seconds_12ep); read the NATS-Bench archive "
                f"(table=DIR, with nats_bench installed) or charge a fixed time with seconds_per_query=S"
            )
            raise ConfigError(msg)

    # -- the search's lifecycle (called from the plugin's hooks) -------------------------

    def search_started(self, run: Any) -> None:
        """Check the search before its first trial; restart the simulated clock.

        A resumed search's clock starts from the simulated time of its recorded trials.
        """
        space = run.config.space
        if space != _SPACE:
            msg = f"evaluator {_NAME!r} looks up cells of the {_SPACE} space; use --space {_SPACE}, not {space!r}"
            raise ConfigError(msg)
        self.dataset_for(run.dataset.name)
        self.simulated_seconds = 0.0
        if self.time_budget is not None and run.run_dir is not None and Path(run.run_dir).is_dir():
            from automl_codegen import SearchResult

            recorded = SearchResult.load(run.run_dir, registry=run.registry).trials
            self.simulated_seconds = sum(t.metrics.get("train_seconds", 0.0) for t in recorded)

    def trial_ended(self, trial: Any) -> bool:
        """Advance the simulated clock; True (stop the search) once it reaches ``time_budget``."""
        self.simulated_seconds += trial.metrics.get("train_seconds", 0.0)
        return self.time_budget is not None and self.simulated_seconds >= self.time_budget


def _fraction(percent: float) -> float:
    # Rounded so that 77.56 % reads 0.7756, not 0.7756000000000001 (the tables have 4 decimals).
    return round(percent / 100, 10)


def _open_table(table: Any, environ: Mapping[str, str] | None = None) -> Any:
    environ = os.environ if environ is None else environ
    if table is not None:
        path, origin = Path(table), "the evaluator option table"
    elif environ.get(TABLE_ENV_VAR):
        path, origin = Path(environ[TABLE_ENV_VAR]), f"${TABLE_ENV_VAR}"
    else:
        path, origin = Path(DEFAULT_TABLE), "the default location"
    if not path.exists():
        msg = (
            f"evaluator {_NAME!r}: the NAS-Bench-201 table {path} ({origin}) does not exist. Put "
            f"nb201_accuracy.csv there, set ${TABLE_ENV_VAR} to its path, or pass "
            f"--evaluator-option table=PATH (Python: evaluator_options={{'table': PATH}}); the official "
            f"NATS-Bench archive works too when the nats_bench package is installed"
        )
        raise ConfigError(msg)
    if is_nats_bench_path(path):
        return NatsBenchTable(path)
    return load_accuracy_table(path)
