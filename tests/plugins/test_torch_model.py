"""The torch builder: values, parameter counts and state-dict keys of interpreted models."""

from __future__ import annotations

import pytest
import torch
from ir_cases import CASES, IN, REFERENCE_CASES, cells, conv, head, op, single_op

from automl_codegen import Architecture, ArchitectureError
from automl_codegen_plugins.torch_model import build_model


@pytest.mark.parametrize("case", sorted(CASES))
def test_parameter_count_and_output_shape_follow_the_ir(case):
    arch = CASES[case]()
    model = build_model(arch).eval()

    assert sum(p.numel() for p in model.parameters()) == arch.num_params
    assert model(torch.randn(3, *arch.input_shape)).shape == (3, arch.num_classes)


@pytest.mark.parametrize("case", sorted(REFERENCE_CASES))
def test_ops_compute_what_a_hand_written_version_does(case):
    make_arch, reference = REFERENCE_CASES[case]
    arch = make_arch()
    model = build_model(arch).eval()
    x = torch.randn(2, *arch.input_shape, generator=torch.Generator().manual_seed(0))

    with torch.no_grad():
        delta = (model(x) - reference(x, model)).abs().max().item()

    assert delta <= 1e-6


def test_count_include_pad_changes_border_values():
    # Guards the reference above: with padding counted, border means shrink.
    pool = op("pool", "avg_pool2d", IN, kernel_size=3, stride=2, padding=1)
    x = torch.ones(1, 2, 5, 5)

    out = build_model(single_op(pool, (2, 5, 5)))(x)

    assert out.min().item() == pytest.approx(4 / 9)


def test_state_dict_keys_nest_block_calls_under_the_node_names():
    model = build_model(cells())
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    cell = ["dw.weight", "inner.conv.weight", *(f"inner.bn.{key}" for key in bn)]

    assert list(model.state_dict()) == [
        "stem.weight",
        *(f"cell1.{key}" for key in cell),
        "reduce.weight",
        *(f"cell2.{key}" for key in cell),
        "fc.weight",
        "fc.bias",
    ]


def test_eval_mode_reaches_nested_blocks():
    model = build_model(cells()).eval()

    assert not any(module.training for module in model.modules())


def test_gradients_reach_every_parameter():
    arch = CASES["cells"]()
    model = build_model(arch)

    model(torch.randn(2, *arch.input_shape)).sum().backward()

    assert all(p.grad is not None for p in model.parameters())


def test_a_node_named_like_a_module_method_is_refused():
    # The IR refuses it up front, so no architecture can reach the builder with one.
    with pytest.raises(ArchitectureError, match="'share_memory' is reserved in generated code"):
        Architecture((1, 4, 4), 10, [conv("share_memory", IN, 1, 4), *head("share_memory", 4)], "fc")
