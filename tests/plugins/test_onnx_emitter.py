"""The onnx emitter: one checked ONNX file per network, its weights included."""

from __future__ import annotations

import hashlib
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from ir_cases import CASES

from automl_codegen import ArchitectureError, ConfigError
from automl_codegen_plugins.emitters.onnx import OnnxEmitter
from automl_codegen_plugins.emitters.onnx import _emitter as onnx_emitter
from automl_codegen_plugins.spaces.chain_cnn import ChainCNNSpace
from automl_codegen_plugins.spaces.darts_cell import DartsCellSpace
from automl_codegen_plugins.spaces.nb201 import NB201Space
from automl_codegen_plugins.torch_model import build_model

EMITTER = OnnxEmitter()
ROOT = Path(__file__).resolve().parents[2]


def one_network_per_space():
    chain = ChainCNNSpace(input_shape=(3, 32, 32), num_classes=10)
    nb201 = NB201Space(channels=8, cells_per_stage=1)
    darts = DartsCellSpace(init_channels=8, layers=5)
    return {
        "chain-cnn": chain.to_architecture(chain.decode([1] * len(chain.choices()))),
        "nb201": nb201.to_architecture(nb201.parse_genotype(NB201_GENOTYPE)),
        "darts-cell": darts.to_architecture(darts.decode([1] * len(darts.choices()))),
    }


NB201_GENOTYPE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|nor_conv_3x3~2|"


def trained_like(arch):
    """The torch model with seeded weights and batch-norm statistics that are not 0 and 1."""
    torch.manual_seed(3)
    model = build_model(arch)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.slow
@pytest.mark.parametrize("space", ["chain-cnn", "nb201", "darts-cell"])
def test_onnx_runtime_computes_what_torch_does_at_any_batch_size(space, tmp_path):
    arch = one_network_per_space()[space]
    model = trained_like(arch)
    (path,) = EMITTER.export(arch, tmp_path, model.state_dict(), {"space": space})
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 4):
        x = torch.randn(batch, *arch.input_shape)
        with torch.no_grad():
            expected = model(x).numpy()
        got = session.run(["logits"], {"input": x.numpy()})[0]
        assert got.shape == (batch, arch.num_classes)
        np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    recorded = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert float(recorded["parity_max_abs_diff"]) <= onnx_emitter.PARITY_TOLERANCE
    assert recorded["space"] == f'"{space}"'
    assert recorded["input_shape"] == str(list(arch.input_shape))


@pytest.mark.slow
def test_an_export_is_byte_identical_in_another_process(tmp_path):
    script = (
        "import sys; from automl_codegen_plugins.emitters.onnx import OnnxEmitter;"
        "sys.path.insert(0, 'tests/plugins'); from ir_cases import CASES;"
        "OnnxEmitter().export(CASES['cells'](), sys.argv[1], None, {'dataset': 'digits'})"
    )
    digests = []
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / run)], check=True, cwd=ROOT)
        data = (tmp_path / run / "model.onnx").read_bytes()
        assert b"/tmp" not in data  # no stack traces of the exporting machine
        digests.append(hashlib.sha256(data).hexdigest())
    assert digests[0] == digests[1]


def test_weights_that_do_not_fit_are_refused_before_anything_is_written(tmp_path):
    arch = CASES["chain_cnn"]()
    weights = {k: v for k, v in build_model(arch).state_dict().items() if not k.endswith("bias")}
    with pytest.raises(
        ArchitectureError,
        match=r"does not fit architecture 'ChainNet': Error\(s\) in loading state_dict for ChainNet: Missing key",
    ):
        EMITTER.export(arch, tmp_path / "out", weights)
    assert not (tmp_path / "out").exists()


def test_a_graph_that_strays_from_torch_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_emitter, "_parity", lambda *args: 0.5)
    with pytest.raises(ArchitectureError, match=r"computes logits up to 0\.5 away from PyTorch's"):
        EMITTER.export(CASES["chain_cnn"](), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_missing_package_names_the_extra_that_brings_it(monkeypatch, tmp_path):
    real = importlib.import_module

    def without_onnxscript(name, *args):
        if name == "onnxscript":
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(onnx_emitter.importlib, "import_module", without_onnxscript)
    with pytest.raises(ConfigError) as info:
        EMITTER.export(CASES["chain_cnn"](), tmp_path)
    assert str(info.value) == (
        "the onnx emitter needs the package 'onnxscript', which is not installed: pip install 'automl-codegen[onnx]'"
    )
