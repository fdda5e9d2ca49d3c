"""Plugin options: names, strict types, the wording of errors, describe, round trip."""

from __future__ import annotations

import json
import math
from pathlib import Path

import attrs
import pytest

from automl_codegen import ConfigError
from automl_codegen.options import (
    OptionError,
    PluginOptions,
    boolean,
    describe_options,
    file_path,
    finite_number,
    integer,
    non_negative_int,
    one_of,
    positive_int,
    probability,
    structure_options,
    unstructure_options,
)
from automl_codegen.serialization import get_converter

OWNER = "strategy 'toy'"


@attrs.frozen(kw_only=True)
class ToyOptions(PluginOptions):
    size: int = attrs.field(default=4, validator=integer(2), metadata={"help": "how many; at least 2"})
    workers: int | None = attrs.field(default=None, validator=positive_int(optional=True))
    retries: int = attrs.field(default=0, validator=non_negative_int())
    rate: float = attrs.field(default=0.5, validator=probability(low_open=True), metadata={"help": "in (0, 1]"})
    lr: float = attrs.field(default=0.1, validator=finite_number(0, low_open=True))
    mode: str = attrs.field(default="fast", validator=one_of(("fast", "slow")))
    verbose: bool = attrs.field(default=False, validator=boolean())
    widths: tuple[int, ...] = attrs.field(default=(8, 16), converter=tuple)
    table: Path | None = attrs.field(default=None, validator=file_path())

    def __attrs_post_init__(self) -> None:
        if self.workers is not None and self.workers > self.size:
            template = "{owner}: workers ({workers}) must be at most size ({size})"
            raise OptionError(template, owner=type(self).__name__, workers=self.workers, size=self.size)


@attrs.frozen(kw_only=True)
class WordyOptions(PluginOptions):
    unknown_message = "{owner} has no option(s) {unknown}; its options: {names}"
    invalid_message = "{owner} option {name!r} must be {expected}, got {value!r}"

    depth: int = attrs.field(default=1, validator=integer(1, expected="a positive integer"))
    kind: str = attrs.field(default="a", validator=one_of(("a", "b"), message="{owner}: unknown kind {value!r}"))


def error_of(cls: type, **raw) -> str:
    with pytest.raises(ConfigError) as caught:
        structure_options(cls, raw, owner=OWNER)
    assert type(caught.value) is ConfigError
    return str(caught.value)


def test_defaults():
    assert structure_options(ToyOptions, {}, owner=OWNER) == ToyOptions()


def test_unknown_options_are_named_sorted():
    assert error_of(ToyOptions, sise=3, colour=1) == "strategy 'toy' has no option(s) ['colour', 'sise']"
    assert error_of(WordyOptions, width=3) == "strategy 'toy' has no option(s) ['width']; its options: depth, kind"


def test_unknown_names_come_before_bad_values():
    assert error_of(ToyOptions, size=0, sise=3) == "strategy 'toy' has no option(s) ['sise']"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"size": 1}, "strategy 'toy': size must be an integer >= 2, got 1"),
        ({"size": "3"}, "strategy 'toy': size must be an integer >= 2, got '3'"),
        ({"size": 3.0}, "strategy 'toy': size must be an integer >= 2, got 3.0"),
        ({"workers": 0}, "strategy 'toy': workers must be an integer >= 1, got 0"),
        ({"retries": -1}, "strategy 'toy': retries must be an integer >= 0, got -1"),
        ({"rate": 0}, "strategy 'toy': rate must be a number in (0, 1], got 0"),
        ({"rate": math.nan}, "strategy 'toy': rate must be a number in (0, 1], got nan"),
        ({"rate": "half"}, "strategy 'toy': rate must be a number in (0, 1], got 'half'"),
        ({"lr": math.inf}, "strategy 'toy': lr must be a number > 0, got inf"),
        ({"mode": "medium"}, "strategy 'toy': mode must be one of fast, slow, got 'medium'"),
        ({"verbose": "yes"}, "strategy 'toy': verbose must be true or false, got 'yes'"),
        ({"table": 3}, "strategy 'toy': table must be a file path, got 3"),
        ({"workers": 5}, "strategy 'toy': workers (5) must be at most size (4)"),
    ],
)
def test_bad_values_are_worded_by_the_template(raw, message):
    assert error_of(ToyOptions, **raw) == message


@pytest.mark.parametrize(("raw", "option"), [({"size": True}, "size"), ({"retries": False}, "retries")])
def test_a_bool_is_not_an_int(raw, option):
    assert error_of(ToyOptions, **raw).startswith(f"strategy 'toy': {option} must be an integer")


def test_a_bool_is_not_a_number_nor_a_choice():
    assert error_of(ToyOptions, lr=True) == "strategy 'toy': lr must be a number > 0, got True"
    assert error_of(WordyOptions, depth=True) == "strategy 'toy' option 'depth' must be a positive integer, got True"


def test_an_int_will_do_for_a_float():
    options = structure_options(ToyOptions, {"rate": 1, "lr": 3}, owner=OWNER)
    assert (options.rate, options.lr) == (1, 3)


def test_a_validator_may_word_its_own_message():
    assert error_of(WordyOptions, kind="c") == "strategy 'toy': unknown kind 'c'"


def test_options_must_be_a_mapping():
    with pytest.raises(ConfigError, match="strategy 'toy' options must be a mapping of names to values, got list"):
        structure_options(ToyOptions, [("size", 3)], owner=OWNER)  # type: ignore[arg-type]


def test_built_directly_the_class_names_itself():
    with pytest.raises(OptionError, match=r"^ToyOptions: size must be an integer >= 2, got 1$"):
        ToyOptions(size=1)


def test_options_are_frozen():
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        ToyOptions().size = 3  # type: ignore[misc]


def test_round_trip_through_json():
    options = structure_options(
        ToyOptions, {"size": 6, "workers": 2, "widths": [4, 8], "table": Path("t.csv"), "mode": "slow"}, owner=OWNER
    )
    data = unstructure_options(options)
    assert data == {
        "size": 6,
        "workers": 2,
        "retries": 0,
        "rate": 0.5,
        "lr": 0.1,
        "mode": "slow",
        "verbose": False,
        "widths": [4, 8],
        "table": "t.csv",
    }
    again = structure_options(ToyOptions, json.loads(json.dumps(data)), owner=OWNER)
    assert unstructure_options(again) == data
    assert again.widths == options.widths == (4, 8)


def test_the_converter_is_the_shared_one():
    # One converter for the IR and the options: no ad hoc converter per plugin.
    assert get_converter().structure({"size": 3}, ToyOptions) == ToyOptions(size=3)
    assert get_converter().unstructure(ToyOptions())["widths"] == [8, 16]


def test_describe_options():
    records = describe_options(ToyOptions)
    assert [r["name"] for r in records] == [f.name for f in attrs.fields(ToyOptions)]
    assert records[0] == {"name": "size", "type": "int", "default": 4, "help": "how many; at least 2"}
    assert records[1] == {"name": "workers", "type": "int | None", "default": None, "help": ""}
    assert records[7] == {"name": "widths", "type": "tuple[int, ...]", "default": [8, 16], "help": ""}
    json.dumps(records)  # JSON-compatible, for `automl-codegen plugins`
