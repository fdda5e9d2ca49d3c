"""NAS-Bench-201 results read through the official ``nats_bench`` API (NATS-Bench ``tss``).

Used when the ``table`` option names the official files instead of a CSV: the archive
directory ``NATS-tss-v1_0-3ffb9-simple`` (fast mode) or the single file
``NATS-tss-v1_0-3ffb9.pickle.pbz2``. Values are the benchmark's means over its training
seeds (``is_random=False``), as in the CSV tables, so both sources score alike. The
simulated training time is NATS-Bench's own ``simulate_train_eval`` cost: the 12-epoch
schedule's ``train-all-time`` plus one validation pass (``valid-per-time``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from automl_codegen import ConfigError

from ._table import DATASETS, Record, canonical_cell

__all__ = ["NatsBenchTable", "is_nats_bench_path"]

# This plugin's dataset name -> NATS-Bench's names: (12-epoch validation, final test).
# CIFAR-10's validation split lives in the "cifar10-valid" runs, as in NATS-Bench.
_NAMES = {
    "cifar10": ("cifar10-valid", "cifar10"),
    "cifar100": ("cifar100", "cifar100"),
    "imagenet16": ("ImageNet16-120", "ImageNet16-120"),
}


def is_nats_bench_path(path: Path) -> bool:
    """Whether ``path`` looks like the official NATS-Bench files rather than a CSV table."""
    return path.is_dir() or path.name.endswith((".pickle.pbz2", ".pickle"))


class NatsBenchTable:
    """The same lookups as :class:`~._table.AccuracyTable`, answered by ``nats_bench``."""

    def __init__(self, path: Path) -> None:
        if importlib.util.find_spec("nats_bench") is None:
            msg = (
                f"{path} is a NATS-Bench benchmark file, which is read with the nats_bench package: "
                f"`pip install nats_bench`, or pass the compact CSV table as table=PATH"
            )
            raise ConfigError(msg)
        from nats_bench import create

        try:
            self._api = create(str(path), "tss", fast_mode=path.is_dir(), verbose=False)
        except Exception as exc:  # the API raises plain ValueError/AssertionError/OSError
            msg = f"nats_bench cannot open {path}: {type(exc).__name__}: {exc}"
            raise ConfigError(msg) from None
        self.path = path

    def __len__(self) -> int:
        return len(self._api)

    def has_dataset(self, dataset: str) -> bool:
        return dataset in DATASETS

    def has_times(self, dataset: str) -> bool:
        return True

    def missing_columns(self, dataset: str) -> list[str]:
        return []

    def lookup(self, genotype: Any, dataset: str) -> Record:
        if isinstance(genotype, str):
            cell = canonical_cell(genotype)
            if cell is None:
                msg = f"{genotype!r} is not a NAS-Bench-201 cell string (e.g. |nor_conv_3x3~0|+|...|+|...|)"
                raise ConfigError(msg)
            index = self._api.query_index_by_arch(cell)
        else:
            index = int(genotype)
        if not 0 <= index < len(self._api):
            msg = f"architecture {genotype!r} is not in the NATS-Bench topology space {self.path}"
            raise ConfigError(msg)
        valid_name, test_name = _NAMES[dataset]
        short = self._api.get_more_info(index, valid_name, hp="12", is_random=False)
        short_test = short if valid_name == test_name else self._info(index, test_name, "12")
        final = self._info(index, test_name, "200")
        return Record(
            index,
            float(short["valid-accuracy"]),
            float(short_test["test-accuracy"]),
            float(final["test-accuracy"]),
            float(short["train-all-time"]) + float(short["valid-per-time"]),
        )

    def _info(self, index: int, dataset: str, hp: str) -> dict[str, Any]:
        return self._api.get_more_info(index, dataset, hp=hp, is_random=False)
