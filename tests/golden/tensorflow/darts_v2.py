"""A neural network found by AutoML-CodeGen, written out as standalone TensorFlow/Keras code.

Input: a float32 tensor of shape (N, 32, 32, 3), N being the batch size.
Layout: channels last (NHWC), as Keras expects. From PyTorch's (N, 3, 32, 32):
    x.transpose(0, 2, 3, 1) for NumPy arrays, tf.transpose(x, (0, 2, 3, 1)) for tensors.
Normalisation: not recorded; scale inputs as they were in training.
Output: (N, 10) logits from DartsNetwork, which has 3,349,342 parameters.

Search: space darts-cell.
Genotype: {"normal": [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["sep_conv_3x3", 0],
    ["sep_conv_3x3", 1], ["sep_conv_3x3", 1], ["skip_connect", 0], ["skip_connect", 0],
    ["dil_conv_3x3", 2]], "normal_concat": [2, 3, 4, 5], "reduce": [["max_pool_3x3", 0],
    ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1], ["max_pool_3x3", 0],
    ["skip_connect", 2], ["skip_connect", 2], ["max_pool_3x3", 1]], "reduce_concat": [2, 3,
    4, 5]}

Usage:
    from model_tf import build_model
    model = build_model("model_tf.weights.h5")  # build_model() for fresh weights
    logits = model(x)  # or model.predict(x) for many batches
    # Before keras.saving.load_model of a saved .keras file: import model_tf
"""

import keras
from keras import layers

# Keras finds the helper layers below by this name when it loads a .keras file; it is
# unique to this architecture, so models of several searches load in one process.
_PACKAGE = "DartsNetwork_bb2dd671"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class _PaddedMaxPooling2D(layers.Layer):
    """Max pooling with PyTorch's padding: the border is -inf, so it never wins a window."""

    def __init__(self, pool_size: int, strides: int, padding: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool_size = pool_size
        self.strides = strides
        self.padding = padding

    def call(self, x):
        p = self.padding
        x = keras.ops.pad(x, ((0, 0), (p, p), (p, p), (0, 0)), constant_values=float("-inf"))
        return keras.ops.max_pool(x, self.pool_size, self.strides)


# One function per block kind (the PyTorch class, in snake_case). Each adds its layers under
# names that start with ``name``: the module paths of the PyTorch model ("cells.1.inner.conv").
def _relu_conv_bn(x: keras.KerasTensor, c_out: int, name: str) -> keras.KerasTensor:
    x = layers.ReLU(name=f"{name}.relu")(x)
    x = layers.Conv2D(c_out, 1, use_bias=False, name=f"{name}.conv")(x)
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name=f"{name}.bn")(x)


def _sep_conv(x: keras.KerasTensor, c: int, name: str) -> keras.KerasTensor:
    x = layers.ReLU(name=f"{name}.relu1")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}.dw1")(x)
    x = layers.Conv2D(c, 1, use_bias=False, name=f"{name}.pw1")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name=f"{name}.bn1")(x)
    x = layers.ReLU(name=f"{name}.relu2")(x)
    x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}.dw2")(x)
    x = layers.Conv2D(c, 1, use_bias=False, name=f"{name}.pw2")(x)
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name=f"{name}.bn2")(x)


def _dil_conv(x: keras.KerasTensor, c: int, name: str) -> keras.KerasTensor:
    x = layers.ReLU(name=f"{name}.relu")(x)
    x = layers.DepthwiseConv2D(
        3, padding="same", dilation_rate=2, use_bias=False, name=f"{name}.dw"
    )(x)
    x = layers.Conv2D(c, 1, use_bias=False, name=f"{name}.pw")(x)
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name=f"{name}.bn")(x)


def _factorized_reduce(x: keras.KerasTensor, c_out: int, name: str) -> keras.KerasTensor:
    x = layers.ReLU(name=f"{name}.relu")(x)
    conv_1 = layers.Conv2D(c_out // 2, 1, strides=2, use_bias=False, name=f"{name}.conv_1")(x)
    x = layers.Cropping2D(((1, 0), (1, 0)), name=f"{name}.shifted")(x)
    conv_2 = layers.Conv2D(c_out // 2, 1, strides=2, use_bias=False, name=f"{name}.conv_2")(x)
    x = layers.Concatenate(name=f"{name}.halves")([conv_1, conv_2])
    return layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name=f"{name}.bn")(x)


def _normal_cell(
    s0: keras.KerasTensor, s1: keras.KerasTensor, c: int, name: str, reduction_prev: bool = False
) -> keras.KerasTensor:
    if reduction_prev:
        preprocess0 = _factorized_reduce(s0, c_out=c, name=f"{name}.preprocess0")
    else:
        preprocess0 = _relu_conv_bn(s0, c_out=c, name=f"{name}.preprocess0")
    preprocess1 = _relu_conv_bn(s1, c_out=c, name=f"{name}.preprocess1")
    node2_op0 = _sep_conv(preprocess0, c=c, name=f"{name}.node2_op0")
    node2_op1 = _sep_conv(preprocess1, c=c, name=f"{name}.node2_op1")
    node2 = layers.Add(name=f"{name}.node2")([node2_op0, node2_op1])
    node3_op0 = _sep_conv(preprocess0, c=c, name=f"{name}.node3_op0")
    node3_op1 = _sep_conv(preprocess1, c=c, name=f"{name}.node3_op1")
    node3 = layers.Add(name=f"{name}.node3")([node3_op0, node3_op1])
    node4_op0 = _sep_conv(preprocess1, c=c, name=f"{name}.node4_op0")
    node4 = layers.Add(name=f"{name}.node4")([node4_op0, preprocess0])
    node5_op1 = _dil_conv(node2, c=c, name=f"{name}.node5_op1")
    node5 = layers.Add(name=f"{name}.node5")([preprocess0, node5_op1])
    return layers.Concatenate(name=f"{name}.concat")([node2, node3, node4, node5])


def _reduction_cell(
    s0: keras.KerasTensor, s1: keras.KerasTensor, c: int, name: str
) -> keras.KerasTensor:
    preprocess0 = _relu_conv_bn(s0, c_out=c, name=f"{name}.preprocess0")
    preprocess1 = _relu_conv_bn(s1, c_out=c, name=f"{name}.preprocess1")
    node2_op0 = _PaddedMaxPooling2D(3, strides=2, padding=1, name=f"{name}.node2_op0")(preprocess0)
    node2_op1 = _PaddedMaxPooling2D(3, strides=2, padding=1, name=f"{name}.node2_op1")(preprocess1)
    node2 = layers.Add(name=f"{name}.node2")([node2_op0, node2_op1])
    node3_op1 = _PaddedMaxPooling2D(3, strides=2, padding=1, name=f"{name}.node3_op1")(preprocess1)
    node3 = layers.Add(name=f"{name}.node3")([node2, node3_op1])
    node4_op0 = _PaddedMaxPooling2D(3, strides=2, padding=1, name=f"{name}.node4_op0")(preprocess0)
    node4 = layers.Add(name=f"{name}.node4")([node4_op0, node2])
    node5_op1 = _PaddedMaxPooling2D(3, strides=2, padding=1, name=f"{name}.node5_op1")(preprocess1)
    node5 = layers.Add(name=f"{name}.node5")([node2, node5_op1])
    return layers.Concatenate(name=f"{name}.concat")([node2, node3, node4, node5])


def build_model(weights: str | None = None, c: int = 36, num_classes: int = 10) -> keras.Model:
    """The Keras model; calling it runs inference on (N, 32, 32, 3) channels-last inputs.

    ``weights``: the ``.weights.h5`` file exported beside this module (trained, converted).
    """
    inputs = keras.Input((32, 32, 3), name="input")
    x = layers.Conv2D(3 * c, 3, padding="same", use_bias=False, name="stem")(inputs)
    s0 = s1 = layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name="stem_bn")(x)
    for i in range(6):
        s0, s1 = s1, _normal_cell(s0, s1, c=c, name=f"cells.{i}")
    s0, s1 = s1, _reduction_cell(s0, s1, c=2 * c, name="cells.6")
    s0, s1 = s1, _normal_cell(s0, s1, c=2 * c, name="cells.7", reduction_prev=True)
    for i in range(8, 13):
        s0, s1 = s1, _normal_cell(s0, s1, c=2 * c, name=f"cells.{i}")
    s0, s1 = s1, _reduction_cell(s0, s1, c=4 * c, name="cells.13")
    s0, s1 = s1, _normal_cell(s0, s1, c=4 * c, name="cells.14", reduction_prev=True)
    for i in range(15, 20):
        s0, s1 = s1, _normal_cell(s0, s1, c=4 * c, name=f"cells.{i}")
    x = layers.GlobalAveragePooling2D(name="pool")(s1)
    outputs = layers.Dense(num_classes, name="classifier")(x)
    model = keras.Model(inputs, outputs, name="DartsNetwork")
    if weights is not None:
        model.load_weights(weights)
    return model


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(keras.random.normal((2, 32, 32, 3))).shape)
