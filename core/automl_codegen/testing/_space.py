"""check_space: a search space against SearchSpaceProtocol."""

from __future__ import annotations

import contextlib
import copy
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from ..architecture import Architecture
from ..protocols import SearchSpaceProtocol, attribute
from ._report import ConformanceReport, _canonical, _fail, _short


def check_space(
    space_or_factory: Any,
    *,
    input_shape: Sequence[int] = (3, 32, 32),
    num_classes: int = 10,
    options: Mapping[str, Any] | None = None,
    samples: int = 20,
    seed: int = 0,
) -> ConformanceReport:
    """Check a search space against :class:`~automl_codegen.protocols.SearchSpaceProtocol`.

    ``space_or_factory`` is a built space, or what ``register_search_spaces`` registers
    (called as ``factory(input_shape, num_classes, **options)``). Checked: the choices
    are non-empty lists of distinct JSON options; ``samples`` sampled genotypes are
    JSON (equal after a round trip, with the same ``key``), encode to one valid index
    per choice and decode back to the same key, lower to a valid
    :class:`~automl_codegen.Architecture` of the space's input shape and classes (the
    JSON copy to the same one, the IR serialisable); ``key`` is a stable string, equal
    for equal genotypes; ``mutate`` gives a different genotype of the space (where a
    choice has two options or more) and ``crossover`` a genotype of the space; the
    same ``rng`` seed gives the same samples and mutations whatever numpy's and
    Python's global RNGs hold; ``parse_genotype``, if present, reads a genotype's JSON.

    Raises:
        AssertionError: the space breaks the contract; the message says how.
    """
    options = dict(options or {})
    if isinstance(space_or_factory, type) or not hasattr(space_or_factory, "choices"):
        space = space_or_factory(tuple(input_shape), num_classes, **options)
    else:
        space = space_or_factory
    label = f"search space {getattr(space, 'name', type(space).__qualname__)!r}"
    report = ConformanceReport(label)
    _check_space_shape(label, space, input_shape, num_classes)
    choices = _check_choices(label, space)
    report.passed(f"{len(choices)} choices of distinct JSON options, the same on every call")
    rng = np.random.default_rng(seed)
    genotypes = _check_samples(label, space, choices, rng, samples, report)
    _check_mutate_crossover(label, space, choices, genotypes, rng, report)
    _check_seeded(label, space, samples, seed, report)
    _check_parse_genotype(label, space, genotypes, report)
    return report


def _check_space_shape(label: str, space: Any, input_shape: Sequence[int], num_classes: int) -> None:
    """The space implements the protocol and keeps the input shape and classes it was built for."""
    if not isinstance(space, SearchSpaceProtocol):
        raise _fail(
            label,
            f"{type(space).__name__} does not implement SearchSpaceProtocol",
            "give it input_shape, num_classes, choices, encode, decode, to_architecture, sample, "
            "mutate, crossover and key (subclass automl_codegen.SearchSpace for the last four)",
        )
    if tuple(space.input_shape) != tuple(input_shape) or space.num_classes != num_classes:
        raise _fail(
            label,
            f"built for input_shape={tuple(input_shape)}, num_classes={num_classes} it reports "
            f"input_shape={space.input_shape!r}, num_classes={space.num_classes!r}",
            "keep the arguments the factory was called with",
        )


def _check_samples(
    label: str, space: Any, choices: list[Any], rng: np.random.Generator, samples: int, report: ConformanceReport
) -> list[Any]:
    """``samples`` genotypes drawn from ``rng``, each checked and lowered."""
    genotypes = [space.sample(rng) for _ in range(samples)]
    for index, genotype in enumerate(genotypes):
        where = f"sample {index} ({_short(genotype)})"
        _check_space_genotype(label, space, choices, genotype, where, lower=True)
    report.passed(f"{samples} samples: JSON, encode/decode, key, to_architecture")
    return genotypes


def _check_mutate_crossover(
    label: str,
    space: Any,
    choices: list[Any],
    genotypes: list[Any],
    rng: np.random.Generator,
    report: ConformanceReport,
) -> None:
    """``mutate`` changes each sample; ``crossover`` of neighbouring samples is a genotype of the space."""
    open_choices = any(len(c.options) > 1 for c in choices)
    for index, genotype in enumerate(genotypes):
        child = space.mutate(genotype, rng)
        _check_space_genotype(label, space, choices, child, f"mutate of sample {index}", lower=index < 3)
        if open_choices and space.encode(child) == space.encode(genotype):
            raise _fail(
                label,
                f"mutate({_short(genotype)}) returned a genotype with the same options",
                "mutate must change at least one choice that has two options or more",
            )
        other = genotypes[(index + 1) % len(genotypes)]
        child = space.crossover(genotype, other, rng)
        _check_space_genotype(
            label, space, choices, child, f"crossover of samples {index} and {index + 1}", lower=index < 3
        )
    report.passed("mutate changes the genotype; crossover gives genotypes of the space")


def _check_seeded(label: str, space: Any, samples: int, seed: int, report: ConformanceReport) -> None:
    """The same ``rng`` seed gives the same genotypes whatever the global RNGs hold."""

    def draw() -> list[str]:
        local = np.random.default_rng(seed)
        drawn = [space.sample(local) for _ in range(min(samples, 5))]
        drawn += [space.mutate(g, local) for g in drawn]
        drawn += [space.crossover(drawn[0], g, local) for g in drawn]
        return [_canonical(g) for g in drawn]

    with _global_rngs_reseeded(1):
        first = draw()
    with _global_rngs_reseeded(2):
        second = draw()
    if first != second:
        raise _fail(
            label,
            "the same rng seed gave different samples, mutations or crossovers",
            "draw every random number from the rng argument, never from numpy's global RNG or `random`",
        )
    report.passed("the same rng seed gives the same genotypes")


def _check_parse_genotype(label: str, space: Any, genotypes: list[Any], report: ConformanceReport) -> None:
    """``parse_genotype``, where the space has one, reads back the JSON of the first samples."""
    parse = attribute("search_space", space, "parse_genotype")
    if parse is None:
        report.skip("parse_genotype", "not implemented (json.loads is used)")
        return
    for genotype in genotypes[:5]:
        try:
            parsed = parse(json.dumps(genotype))
        except Exception as exc:
            raise _fail(
                label,
                f"parse_genotype of the JSON of {_short(genotype)} raised {type(exc).__name__}: {exc}",
                "accept a genotype's JSON too (what a run's files hold)",
            ) from exc
        if space.key(parsed) != space.key(genotype):
            raise _fail(
                label,
                f"parse_genotype(json.dumps({_short(genotype)})) gave {_short(parsed)}",
                "parse_genotype must return the genotype its text describes",
            )
    report.passed("parse_genotype reads a genotype's JSON")


def _check_choices(label: str, space: Any) -> list[Any]:
    choices = space.choices()
    if not isinstance(choices, list) or not choices:
        raise _fail(label, f"choices() returned {_short(choices)}", "return a non-empty list of automl_codegen.Choice")
    names = []
    for index, choice in enumerate(choices):
        name, options = getattr(choice, "name", None), getattr(choice, "options", None)
        if not isinstance(name, str) or not name:
            raise _fail(label, f"choice {index} has name {name!r}", "give every Choice a non-empty name")
        if not isinstance(options, Sequence) or isinstance(options, str) or not options:
            raise _fail(
                label, f"choice {name!r} has options {_short(options)}", "give every choice at least one option"
            )
        texts = []
        for option in options:
            try:
                text = json.dumps(option, allow_nan=False, sort_keys=True)
            except (TypeError, ValueError) as exc:
                raise _fail(
                    label,
                    f"choice {name!r} has option {option!r}, which is not JSON",
                    "options are JSON values: str, int, float, bool, None, lists, dicts",
                ) from exc
            texts.append(text)
        if len(set(texts)) != len(texts):
            raise _fail(
                label,
                f"choice {name!r} lists an option twice: {list(options)}",
                "options must be distinct, or encode cannot tell them apart",
            )
        names.append(name)
    if len(set(names)) != len(names):
        raise _fail(label, f"choice names repeat: {names}", "give every choice its own name")
    again = space.choices()
    if [(c.name, tuple(c.options)) for c in again] != [(c.name, tuple(c.options)) for c in choices]:
        raise _fail(
            label,
            "choices() returned different choices on a second call",
            "the choices are a fixed sequence: strategies and RL controllers index them",
        )
    return choices


def _check_space_genotype(label: str, space: Any, choices: list[Any], genotype: Any, where: str, lower: bool) -> None:
    loaded, key = _check_genotype_json_and_key(label, space, genotype, where)
    _check_encoding(label, space, choices, genotype, where, key)
    if lower:
        _check_lowering(label, space, genotype, loaded, where)


def _check_genotype_json_and_key(label: str, space: Any, genotype: Any, where: str) -> tuple[Any, str]:
    """The genotype survives a JSON round trip and has a stable ``key``; returns its JSON copy and key."""
    try:
        text = json.dumps(genotype, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _fail(
            label,
            f"{where} is not JSON ({exc})",
            "genotypes are journaled as JSON: use dicts, lists, str, int, float, bool (no tuples, numpy values or NaN)",
        ) from exc
    loaded = json.loads(text)
    if loaded != genotype:
        raise _fail(
            label,
            f"{where} changes in a JSON round trip (got {_short(loaded)})",
            "use lists, not tuples, and string dict keys",
        )
    key = space.key(genotype)
    if not isinstance(key, str) or space.key(genotype) != key:
        raise _fail(label, f"key() of {where} is {key!r}, not a stable string", "return the same string every time")
    if space.key(loaded) != key or space.key(copy.deepcopy(genotype)) != key:
        raise _fail(
            label,
            f"key() of {where} differs for an equal genotype (its JSON copy)",
            "key must depend on the genotype's value only",
        )
    return loaded, key


def _check_encoding(label: str, space: Any, choices: list[Any], genotype: Any, where: str, key: str) -> None:
    """``encode`` gives one valid index per choice, and ``decode`` gives back the genotype."""
    indices = space.encode(genotype)
    if not isinstance(indices, list) or len(indices) != len(choices):
        raise _fail(
            label,
            f"encode() of {where} returned {_short(indices)}",
            f"return a list of {len(choices)} option indices, one per choice",
        )
    for choice, value in zip(choices, indices, strict=True):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 0 <= value < len(choice.options):
            raise _fail(
                label,
                f"encode() of {where} gives {value!r} for choice {choice.name!r}",
                f"indices are ints in 0..{len(choice.options) - 1}",
            )
    decoded = space.decode(indices)
    if space.key(decoded) != key:
        raise _fail(
            label, f"decode(encode({where})) is {_short(decoded)}, another genotype", "decode must invert encode"
        )


def _check_lowering(label: str, space: Any, genotype: Any, loaded: Any, where: str) -> None:
    """``to_architecture`` gives a valid, serialisable Architecture of the space; its JSON copy the same one."""
    arch = space.to_architecture(genotype)
    if not isinstance(arch, Architecture):
        raise _fail(
            label,
            f"to_architecture of {where} returned a {type(arch).__name__}",
            "return an automl_codegen.Architecture (it validates itself when built)",
        )
    if arch.input_shape != tuple(space.input_shape) or arch.num_classes != space.num_classes:
        raise _fail(
            label,
            f"{where} lowers to input_shape={arch.input_shape}, num_classes={arch.num_classes}",
            f"lower to the space's input_shape={tuple(space.input_shape)} and num_classes={space.num_classes}",
        )
    try:
        again = Architecture.from_json(arch.to_json())
    except Exception as exc:
        raise _fail(
            label,
            f"the architecture of {where} does not survive to_json/from_json: {exc}",
            "use plain int/float/bool/str attributes (not numpy values) in the IR",
        ) from exc
    if again != arch:
        raise _fail(
            label,
            f"the architecture of {where} changes in to_json/from_json",
            "use plain int/float/bool/str attributes (not numpy values) in the IR",
        )
    if space.to_architecture(loaded).fingerprint() != arch.fingerprint():
        raise _fail(
            label,
            f"the JSON copy of {where} lowers to another architecture",
            "to_architecture must depend on the genotype's value only (resume and export read it from JSON)",
        )


@contextlib.contextmanager
def _global_rngs_reseeded(seed: int) -> Iterator[None]:
    """numpy's and Python's global RNGs seeded with ``seed``, restored afterwards."""
    numpy_state, python_state = np.random.get_state(), random.getstate()
    np.random.seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
