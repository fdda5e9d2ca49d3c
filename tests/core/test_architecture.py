"""The IR: validation with messages naming the node, shape inference, JSON round trip."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from automl_codegen import Architecture, ArchitectureError, Block, Node
from automl_codegen.testing import tiny_architecture


def conv(name, src, c_in, c_out, **kw):
    return Node(
        name, "conv2d", (src,), {"in_channels": c_in, "out_channels": c_out, "kernel_size": 3, "padding": 1, **kw}
    )


def head(src, features, classes=10):
    return [
        Node("pool", "global_avg_pool", (src,)),
        Node("classifier", "linear", ("pool",), {"in_features": features, "out_features": classes}),
    ]


CONV_BN = Block(
    "ConvBn",
    ("x",),
    ("c_in", "c_out", "stride"),
    (
        Node(
            "conv",
            "conv2d",
            ("x",),
            {"in_channels": "c_in", "out_channels": "c_out", "kernel_size": 3, "padding": 1, "stride": "stride"},
        ),
        Node("bn", "batchnorm2d", ("conv",), {"num_features": "c_out"}),
        Node("act", "relu", ("bn",)),
    ),
    "act",
)


def block_arch(second_c_in=16):
    return Architecture(
        (1, 8, 8),
        10,
        (
            Node("stem", "block", ("input_",), {"c_in": 1, "c_out": 16, "stride": 1}, block="ConvBn"),
            Node("stage1", "block", ("stem",), {"c_in": second_c_in, "c_out": 32, "stride": 2}, block="ConvBn"),
            *head("stage1", 32),
        ),
        "classifier",
        (CONV_BN,),
    )


def error_of(fn) -> str:
    with pytest.raises(ArchitectureError) as info:
        fn()
    return str(info.value)


def test_shapes_and_params():
    arch = block_arch()
    assert arch.shapes == {"stem": (16, 8, 8), "stage1": (32, 4, 4), "pool": (32,), "classifier": (10,)}
    # conv 1->16 (144) + bn (32) + conv 16->32 (4608) + bn (64) + linear 32*10+10
    assert arch.num_params == 144 + 32 + 4608 + 64 + 330
    assert arch.op_counts() == {"batchnorm2d": 2, "conv2d": 2, "global_avg_pool": 1, "linear": 1, "relu": 2}


def test_defaults_are_filled_so_equal_networks_are_equal():
    a = Node("c", "conv2d", ("input_",), {"in_channels": 1, "out_channels": 4, "kernel_size": 3})
    b = Node(
        "c", "conv2d", ("input_",), {"in_channels": 1, "out_channels": 4, "kernel_size": 3, "stride": 1, "bias": False}
    )
    assert a == b
    assert hash(a) == hash(b)
    assert a.attr_dict["dilation"] == 1


def test_json_round_trip_is_identical():
    arch = block_arch()
    again = Architecture.from_json(arch.to_json())
    assert again == arch
    assert again.to_json() == arch.to_json()
    assert again.fingerprint() == arch.fingerprint()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: Node("c", "conv3d", ("input_",)),
            "node 'c': unknown op 'conv3d'; the vocabulary (IR v2) is: add, avg_pool1d, avg_pool2d, "
            "batchnorm1d, batchnorm2d, block, concat, conv1d, conv2d, crop2d, depthwise_conv2d, dropout, "
            "flatten, gelu, global_avg_pool, hardswish, identity, layer_norm, linear, max_pool1d, max_pool2d, "
            "relu, relu6, sigmoid, silu, tanh, zero",
        ),
        (
            lambda: Node("c", "conv2d", ("input_",), {"in_channels": 1, "out_channels": 4}),
            "node 'c': conv2d needs attribute 'kernel_size'",
        ),
        (
            lambda: Node(
                "c", "conv2d", ("input_",), {"in_channels": 1, "out_channels": 4, "kernel_size": 3, "colour": 2}
            ),
            "node 'c': conv2d has no attribute 'colour' (allowed: in_channels, out_channels, "
            "kernel_size, stride, padding, dilation, groups, bias)",
        ),
        (
            lambda: Node("c", "conv2d", ("input_",), {"in_channels": 1, "out_channels": 0, "kernel_size": 3}),
            "node 'c': attribute 'out_channels'=0 is outside [1, 65536]",
        ),
        (
            lambda: Node("c", "conv2d", ("input_",), {"in_channels": 1.5, "out_channels": 4, "kernel_size": 3}),
            "node 'c': attribute 'in_channels' must be int, got 1.5",
        ),
        (
            lambda: Node("c", "batchnorm2d", ("input_",), {"num_features": 1, "affine": 1}),
            "node 'c': attribute 'affine' must be bool, got 1",
        ),
        (lambda: Node("c", "add", ("input_",)), "node 'c': add takes 2 to 64 inputs, got 1"),
        (
            lambda: Node("forward", "relu", ("input_",)),
            "node name 'forward' is reserved in generated code; rename it",
        ),
        (
            lambda: Node("Bad-Name", "relu", ("input_",)),
            "node name 'Bad-Name' is not a valid name: use lower_case letters, digits and "
            "underscores, starting with a letter (at most 64 characters)",
        ),
    ],
)
def test_node_errors(build, message):
    assert error_of(build) == message


def test_shape_mismatch_names_the_node_inside_the_block():
    assert error_of(lambda: block_arch(second_c_in=8)) == (
        "nodes[1] 'stage1' -> block 'ConvBn' nodes[0] 'conv': conv2d expects 8 input channels (in_channels), got 16"
    )


def test_cycle_is_reported():
    nodes = (
        Node("a", "add", ("input_", "b")),
        Node("b", "relu", ("a",)),
        *head("b", 1),
    )
    assert error_of(lambda: Architecture((1, 8, 8), 10, nodes, "classifier")) == (
        "nodes[0] 'a': input 'b' is not computed before it (cycle a -> b -> a)"
    )


def test_dangling_input_is_reported():
    nodes = (conv("c", "nowhere", 1, 4), *head("c", 4))
    assert error_of(lambda: Architecture((1, 8, 8), 10, nodes, "classifier")) == (
        "nodes[0] 'c': input 'nowhere' is not defined"
    )


def test_unused_node_is_reported():
    nodes = (conv("c", "input_", 1, 4), conv("dead", "input_", 1, 4), *head("c", 4))
    assert error_of(lambda: Architecture((1, 8, 8), 10, nodes, "classifier")) == (
        "nodes ['dead'] do not contribute to the output 'classifier'; remove them"
    )


def test_wrong_output_size_is_reported():
    nodes = (conv("c", "input_", 1, 4), *head("c", 4, classes=3))
    assert error_of(lambda: Architecture((1, 8, 8), 10, nodes, "classifier")) == (
        "output 'classifier' has shape (3,), but the network must return (10,) logits for num_classes=10"
    )


def test_kernel_larger_than_input_is_reported():
    nodes = (Node("c", "conv2d", ("input_",), {"in_channels": 1, "out_channels": 4, "kernel_size": 9}), *head("c", 4))
    assert error_of(lambda: Architecture((1, 8, 8), 10, nodes, "classifier")) == (
        "nodes[0] 'c': conv2d with kernel_size=9, stride=1, padding=0, dilation=1 leaves no "
        "output for an input of size 8"
    )


def test_unknown_and_unused_blocks():
    arch = block_arch()
    data = arch.to_dict()
    data["nodes"][0]["block"] = "Missing"
    assert "nodes[0] 'stem': calls unknown block 'Missing'" in error_of(lambda: Architecture.from_dict(data))
    data = arch.to_dict()
    data["blocks"].append({**data["blocks"][0], "name": "Spare"})
    assert "blocks ['Spare'] are defined but never called; remove them" in error_of(
        lambda: Architecture.from_dict(data)
    )


def test_recursive_blocks_are_refused():
    loop = Block("Loop", ("x",), (), (Node("inner", "block", ("x",), block="Loop"),), "inner")
    nodes = (Node("b", "block", ("input_",), block="Loop"), *head("b", 1))
    assert error_of(lambda: Architecture((1, 8, 8), 10, nodes, "classifier", (loop,))) == (
        "blocks call each other recursively: Loop -> Loop"
    )


def doubling_blocks(depth: int, *, conv: bool = False) -> list[Block]:
    """Block i calls block i-1 twice in a row: 2**depth primitive ops once inlined."""
    first = Node("r", "conv2d", ("x",), {"in_channels": 1, "out_channels": 1, "kernel_size": 3, "padding": 1})
    blocks = [Block("B0", ("x",), (), (first if conv else Node("r", "relu", ("x",)),), "r")]
    for i in range(1, depth):
        calls = (Node("a", "block", ("x",), block=f"B{i - 1}"), Node("b", "block", ("a",), block=f"B{i - 1}"))
        blocks.append(Block(f"B{i}", ("x",), (), calls, "b"))
    return blocks


def doubling_network(depth: int, *, conv: bool = False) -> Architecture:
    blocks = doubling_blocks(depth, conv=conv)
    nodes = (Node("top", "block", ("input_",), block=blocks[-1].name), *head("top", 1))
    return Architecture((1, 8, 8), 10, nodes, "classifier", blocks)


def test_nested_block_calls_are_analysed_in_linear_time():
    # 2**15 convolutions once inlined (16 levels): counted through one memoised walk per distinct call.
    arch = doubling_network(16, conv=True)
    assert arch.expanded_size == (1 << 15) + 2
    assert arch.num_params == (1 << 15) * 9 + 10 * 1 + 10  # bias-free 3x3 convolutions, then the head
    assert arch.op_counts() == {"conv2d": 1 << 15, "global_avg_pool": 1, "linear": 1}


def test_networks_that_inline_to_too_many_ops_are_refused_before_any_work():
    # 40 levels in a few KB would be 10**12 modules: refused from the block table alone.
    assert error_of(lambda: doubling_network(40)) == (
        "the network expands to 549755813890 primitive ops once its block calls are inlined, "
        "more than the limit of 65536; call fewer blocks from blocks"
    )


@pytest.mark.parametrize("declared", ["callees first", "callers first"])
def test_blocks_nested_too_deep_are_refused(declared):
    # A chain of 70 blocks, each calling the next once: linear in size, but too deep.
    blocks = [Block("B0", ("x",), (), (Node("r", "relu", ("x",)),), "r")]
    blocks += [Block(f"B{i}", ("x",), (), (Node("a", "block", ("x",), block=f"B{i - 1}"),), "a") for i in range(1, 70)]
    if declared == "callers first":
        blocks.reverse()
    nodes = (Node("top", "block", ("input_",), block="B69"), *head("top", 1))
    message = error_of(lambda: Architecture((1, 8, 8), 10, nodes, "classifier", blocks))
    assert message in (
        "block 'B64' nests blocks 65 deep, more than the limit of 64",
        "block 'B69' nests blocks more than 64 deep, the limit",
    )


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d.__setitem__("num_classes", "10"),
            "invalid architecture: expected int, got str '10' @ $.num_classes",
        ),
        (lambda d: d.__delitem__("output"), "invalid architecture: required field missing @ $.output"),
        (
            lambda d: d["nodes"][0].__setitem__("extra", 1),
            "invalid architecture: unknown field(s) ['extra'] @ $.nodes[0]",
        ),
        (
            lambda d: d["nodes"][3]["attrs"].__setitem__("in_features", True),
            "invalid architecture: node 'classifier': attribute 'in_features' must be int, got True @ $.nodes[3]",
        ),
        (
            lambda d: d["blocks"][0]["nodes"][0]["attrs"].__setitem__("kernel_size", [3]),
            "invalid architecture: an attribute value must be a number, a boolean or a parameter "
            "name, got [3] @ $.blocks[0].nodes[0].attrs",
        ),
        (lambda d: d.__setitem__("nodes", {}), "invalid architecture: expected a list, got dict @ $.nodes"),
    ],
)
def test_malformed_json_names_the_field(mutate, message):
    data = block_arch().to_dict()
    mutate(data)
    assert error_of(lambda: Architecture.from_dict(data)) == message


def test_unparsable_json():
    assert error_of(lambda: Architecture.from_json("{nope")).startswith("architecture JSON does not parse:")
    assert error_of(lambda: Architecture.from_json("[1, 2]")) == "an architecture must be a JSON object, got list"


# -- property tests ------------------------------------------------------------------------

CHAIN_OPS = [
    "conv",
    "dw",
    "bn",
    "relu",
    "relu6",
    "hardswish",
    "silu",
    "sigmoid",
    "maxpool",
    "avgpool",
    "identity",
    "dropout",
    "residual",
]


@st.composite
def chain_architectures(draw):
    """Random valid chains of the vocabulary, ending in a pooled classifier."""
    channels = draw(st.integers(1, 4))
    size = draw(st.integers(4, 12))
    nodes, prev, c, h = [], "input_", channels, size
    for i, op in enumerate(draw(st.lists(st.sampled_from(CHAIN_OPS), min_size=1, max_size=8))):
        name = f"n{i}"
        if op == "conv":
            out = draw(st.integers(1, 16))
            node = Node(
                name,
                "conv2d",
                (prev,),
                {"in_channels": c, "out_channels": out, "kernel_size": 3, "padding": 1, "bias": draw(st.booleans())},
            )
            c = out
        elif op == "dw":
            node = Node(name, "depthwise_conv2d", (prev,), {"channels": c, "kernel_size": 3, "padding": 1})
        elif op == "bn":
            node = Node(name, "batchnorm2d", (prev,), {"num_features": c, "eps": draw(st.sampled_from([1e-5, 1e-3]))})
        elif op in ("maxpool", "avgpool"):
            if h < 2:
                continue
            kind = "max_pool2d" if op == "maxpool" else "avg_pool2d"
            node = Node(name, kind, (prev,), {"kernel_size": 2, "stride": 2})
            h //= 2
        elif op == "dropout":
            node = Node(name, "dropout", (prev,), {"p": draw(st.floats(0.0, 0.9))})
        elif op == "residual":
            node = (
                Node(name, "add", (prev, nodes[-1].name if nodes else prev))
                if nodes
                else Node(name, "identity", (prev,))
            )
        else:
            node = Node(name, op, (prev,))
        nodes.append(node)
        prev = name
    classes = draw(st.integers(1, 20))
    nodes += [
        Node("pool", "global_avg_pool", (prev,)),
        Node("classifier", "linear", ("pool",), {"in_features": c, "out_features": classes}),
    ]
    return Architecture((channels, size, size), classes, tuple(nodes), "classifier")


@given(chain_architectures())
@settings(max_examples=75, deadline=None)
def test_round_trip_property(arch):
    text = arch.to_json()
    again = Architecture.from_json(text)
    assert again == arch
    assert again.to_json() == text


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(JSON)
@settings(max_examples=200, deadline=None)
def test_random_json_gives_only_the_documented_error(data):
    with pytest.raises(ArchitectureError):
        Architecture.from_dict(data)


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_corrupted_valid_json_gives_only_the_documented_error(data):
    base = block_arch().to_dict()
    # Replace one leaf somewhere in a valid document with random JSON.
    paths = []

    def walk(node, path):
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, (*path, i))
        paths.append(path)

    walk(base, ())
    path = data.draw(st.sampled_from([p for p in paths if p]))
    target = base
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(JSON)
    # Either the corruption is harmless or the documented error names it; nothing else escapes.
    with contextlib.suppress(ArchitectureError):
        Architecture.from_dict(json.loads(json.dumps(base)))


def test_tiny_architecture_helper():
    arch = tiny_architecture((3, 16, 16), 5)
    assert arch.shapes["classifier"] == (5,)


def test_reserved_names_cover_every_torch_module_attribute():
    torch = pytest.importorskip("torch")
    from automl_codegen.architecture import RESERVED_NAMES, RESERVED_PREFIXES

    public = [n for n in dir(torch.nn.Module) if n.isidentifier() and not n.startswith("_") and n == n.lower()]
    missing = [n for n in public if n not in RESERVED_NAMES and not n.startswith(RESERVED_PREFIXES)]
    assert missing == [], f"add these nn.Module attributes to FRAMEWORK_ATTRIBUTES: {missing}"
    for name in ("share_memory", "named_parameters", "register_hook_x", "compile"):
        with pytest.raises(ArchitectureError, match="is reserved in generated code"):
            Node(name, "relu", ("input_",))


def test_block_parameter_rules():
    body = (
        Node("conv", "conv2d", ("x",), {"in_channels": "c", "out_channels": "c", "kernel_size": 3, "padding": "p"}),
    )
    assert Block("Pad", ("x",), ("c", "p"), body, "conv").params == ("c", "p")
    assert error_of(lambda: Block("Pad", ("x",), ("c", "p", "spare"), body, "conv")) == (
        "block 'Pad': parameters ['spare'] are not used by any node; remove them"
    )
    assert error_of(lambda: Block("Pad", ("x",), ("c", "training"), body, "conv")) == (
        "block 'Pad': parameter 'training' is reserved in generated code; rename it"
    )
    assert error_of(lambda: Block("F", ("x",), ("c", "p"), body, "conv")) == (
        "block name 'F' is not a valid class name: use CamelCase letters and digits, at least 2 characters"
    )
