"""The configuration of a search: one attrs value, validated once, journaled by the converter.

``NeuralArchitectureSearch(...)`` builds a :class:`SearchConfig` from its arguments; the
journal stores ``config.to_dict()``; :meth:`SearchConfig.from_dict` reads it back for
``resume`` and ``SearchResult.load``, so the arguments are written out in one place only.
Runs recorded by earlier versions (no ``fidelity`` entry, say) load with the defaults.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from .errors import ConfigError
from .evaluation import TrainingBudget
from .serialization import get_converter
from .tasks import TASKS, get_task

__all__ = ["DEFAULT_TRIALS", "TASKS", "BudgetSettings", "SearchConfig", "TrainingSettings", "resolve_device"]

DEFAULT_TRIALS = 30


def _positive(kind: type, name: str | None = None):
    """A validator: None, or a positive number (a whole one for ``int``); bools are refused."""

    def check(_instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        label = name or attribute.name
        if value is None:
            return
        if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
            msg = f"{label} must be a positive {kind.__name__}, got {value!r}"
            raise ConfigError(msg)
        if kind is int and not isinstance(value, int):
            msg = f"{label} must be a whole number, got {value!r}"
            raise ConfigError(msg)
        if not math.isfinite(value):
            msg = f"{label} must be a finite number, got {value!r}"
            raise ConfigError(msg)

    return check


@attrs.frozen
class BudgetSettings:
    """When to stop: a number of trials and/or wall-clock seconds (either may be None)."""

    trials: int | None = attrs.field(default=None, validator=_positive(int, "budget['trials']"))
    seconds: float | None = attrs.field(default=None, validator=_positive(float, "budget['seconds']"))

    def __attrs_post_init__(self) -> None:
        if self.trials is None and self.seconds is None:
            msg = "budget needs 'trials' or 'seconds' (or both)"
            raise ConfigError(msg)

    @classmethod
    def parse(cls, budget: int | Mapping[str, Any] | BudgetSettings | None) -> BudgetSettings:
        """``None`` (the default trials), a number of trials, or ``{"trials": N, "seconds": S}``."""
        if isinstance(budget, BudgetSettings):
            return budget
        if budget is None:
            return cls(trials=DEFAULT_TRIALS)
        if isinstance(budget, int) and not isinstance(budget, bool):
            _positive(int, "budget")(None, None, budget)  # type: ignore[arg-type]
            return cls(trials=budget)
        if not isinstance(budget, Mapping):
            msg = f"budget must be a number of trials or a dict like {{'trials': 60, 'seconds': 180}}, got {budget!r}"
            raise ConfigError(msg)
        unknown = sorted(set(budget) - {"trials", "seconds"})
        if unknown:
            msg = f"budget has unknown key(s) {unknown}; use 'trials' and/or 'seconds'"
            raise ConfigError(msg)
        return cls(trials=budget.get("trials"), seconds=budget.get("seconds"))

    def after(self, done: int, elapsed: float) -> BudgetSettings:
        """This budget counted from a run that has ``done`` trials and ``elapsed`` seconds.

        Extending a run (``search(trials=N)`` again, ``resume(budget=...)``) asks for N
        *more* trials or S more seconds; the journal keeps the totals.
        """
        return BudgetSettings(
            trials=None if self.trials is None else done + self.trials,
            seconds=None if self.seconds is None else elapsed + self.seconds,
        )

    def exhausted(self, done: int, elapsed: float) -> bool:
        return (self.trials is not None and done >= self.trials) or (
            self.seconds is not None and elapsed >= self.seconds
        )


@attrs.frozen
class TrainingSettings:
    """How long one trial trains: epochs, early-stopping patience, a cap in seconds."""

    epochs: int = attrs.field(default=15, validator=_positive(int))
    patience: int | None = attrs.field(default=4, validator=_positive(int))
    trial_seconds: float | None = attrs.field(default=None, validator=_positive(float))

    def budget(self) -> TrainingBudget:
        """What an evaluator receives of these settings (:class:`~automl_codegen.evaluation.TrainingBudget`)."""
        return TrainingBudget(epochs=self.epochs, max_seconds=self.trial_seconds, patience=self.patience)


@attrs.frozen
class ObjectiveRecord:
    """An objective as the journal keeps it: its name and direction.

    ``python`` marks an objective passed as an :class:`~automl_codegen.Objective` from
    Python rather than registered by a plugin: a loaded run reports it from the recorded
    values, and a resumed one needs it passed again.
    """

    name: str
    direction: str
    python: bool = False


def _seed(_instance: Any, _attribute: attrs.Attribute, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        msg = f"seed must be a non-negative integer, got {value!r}"
        raise ConfigError(msg)


def _task(_instance: Any, _attribute: attrs.Attribute, value: Any) -> None:
    if value is not None:  # None: the dataset's own task (settled when the search is built)
        get_task(value)


_DEVICE = re.compile(r"^(auto|cpu|cuda(:[0-9]+)?)$")


def _device(_instance: Any, _attribute: attrs.Attribute, value: Any) -> None:
    if not isinstance(value, str) or not _DEVICE.match(value):
        msg = f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {value!r}"
        raise ConfigError(msg)


def resolve_device(device: str) -> str:
    """``auto``: CUDA when torch sees a device, else CPU; a CUDA device that is not there is an error.

    torch is imported only to answer this, and only for ``auto`` and ``cuda``.
    """
    _device(None, None, device)  # type: ignore[arg-type]
    if device == "cpu":
        return device
    import torch

    available = torch.cuda.is_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    index = int(device.partition(":")[2] or 0)
    if not available or index >= torch.cuda.device_count():
        found = f"{torch.cuda.device_count()} CUDA device(s)" if available else "no CUDA device"
        msg = f"device {device!r} was asked for but torch sees {found}; use device 'auto' or 'cpu'"
        raise ConfigError(msg)
    return device


def _options(value: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(value or {})


def _profiler_options(value: Mapping[str, Mapping[str, Any]] | None) -> dict[str, dict[str, Any]]:
    return {name: dict(options) for name, options in (value or {}).items()}


@attrs.frozen
class SearchConfig:
    """Everything that defines a search, as the journal records it.

    The plugin names and their options are what the user asked for; ``objectives``,
    ``dataset_summary`` and ``first_generation_size`` are filled in from the built
    plugins, so a loaded run can be reported without them.
    """

    task: str | None = attrs.field(default=None, validator=_task)
    dataset: str = "digits"
    dataset_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    dataset_summary: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    space: str | None = None
    #: The space was given as a Python object (a ModelSpace), not by name: resume needs it again.
    space_from_python: bool = False
    space_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    strategy: str = "evolution"
    strategy_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    first_generation_size: int | None = attrs.field(default=None, validator=_positive(int))
    objectives: tuple[ObjectiveRecord, ...] = (ObjectiveRecord("accuracy", "max"),)
    constraints: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    budget: BudgetSettings = attrs.field(factory=lambda: BudgetSettings(trials=DEFAULT_TRIALS))
    seed: int = attrs.field(default=0, validator=_seed)
    training: TrainingSettings = attrs.field(factory=TrainingSettings)
    evaluator: str = "train"
    evaluator_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    executor: str = "local"
    executor_options: dict[str, Any] = attrs.field(factory=dict, converter=_options)
    profilers: tuple[str, ...] = attrs.field(default=("torch-cpu",), converter=tuple)
    profiler_options: dict[str, dict[str, Any]] = attrs.field(factory=dict, converter=_profiler_options)
    device: str = attrs.field(default="cpu", validator=_device)
    fidelity: dict[str, Any] | None = None

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    def to_dict(self) -> dict[str, Any]:
        """The JSON-compatible form the journal stores."""
        data = get_converter().unstructure(self)
        # Lists, as JSON reads them back; the journal's format predates this class.
        for key in ("constraints", "profilers"):
            data[key] = list(data[key])
        data["objectives"] = [dict(o) for o in data["objectives"]]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SearchConfig:
        """Read back what :meth:`to_dict` wrote (older runs' missing entries take the defaults).

        Raises:
            ConfigError: the record is damaged (edited by hand, bits flipped), named.
        """
        if not isinstance(data, Mapping):
            msg = f"the recorded configuration is damaged: a JSON object was expected, got {type(data).__name__}"
            raise ConfigError(msg)
        try:
            known = {f.name for f in attrs.fields(cls)}
            values = {k: v for k, v in data.items() if k in known}
            values["objectives"] = tuple(
                ObjectiveRecord(o["name"], o["direction"], bool(o.get("python", False)))
                for o in data.get("objectives", ())
            )
            if not values["objectives"] or not all(isinstance(o.name, str) for o in values["objectives"]):
                msg = f"objectives must name at least one objective, got {data.get('objectives')!r:.80}"
                raise ConfigError(msg)
            budget = {k: v for k, v in (data.get("budget") or {}).items() if v is not None}
            # The default of runs from before budgets were recorded, not today's default.
            values["budget"] = BudgetSettings.parse(budget) if budget else BudgetSettings(trials=DEFAULT_TRIALS)
            values["training"] = TrainingSettings(**(data.get("training") or {}))
            return cls(**values)
        except ConfigError as exc:
            msg = f"the recorded configuration is damaged: {exc}"
            raise ConfigError(msg) from None
        except (TypeError, KeyError, AttributeError, ValueError) as exc:
            msg = f"the recorded configuration is damaged ({type(exc).__name__}: {str(exc)[:200]})"
            raise ConfigError(msg) from None

    # -- read access in the journal's terms, for plugins written against the dict ---------

    def get(self, key: str, default: Any = None) -> Any:
        """``config.get("space")`` as when the configuration was a dict (deprecated: use ``config.space``)."""
        warnings.warn(
            f"the run configuration is a SearchConfig now; read config.{key} instead of config.get({key!r})",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.to_dict().get(key, default)

    def __getitem__(self, key: str) -> Any:
        warnings.warn(
            f"the run configuration is a SearchConfig now; read config.{key} instead of config[{key!r}]",
            DeprecationWarning,
            stacklevel=2,
        )
        return self.to_dict()[key]


def objective_records(objectives: Sequence[Any], python: Sequence[str] = ()) -> tuple[ObjectiveRecord, ...]:
    """The journal's record of built objectives; ``python`` names those passed from Python."""
    return tuple(ObjectiveRecord(o.name, o.direction, o.name in python) for o in objectives)
