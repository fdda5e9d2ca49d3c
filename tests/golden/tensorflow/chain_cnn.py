"""A neural network found by AutoML-CodeGen, written out as standalone TensorFlow/Keras code.

Input: a float32 tensor of shape (N, 8, 8, 1), N being the batch size.
Layout: channels last (NHWC), as Keras expects. From PyTorch's (N, 1, 8, 8):
    x.transpose(0, 2, 3, 1) for NumPy arrays, tf.transpose(x, (0, 2, 3, 1)) for tensors.
Normalisation: x / 16, then (x - 0.3) / 0.4
Output: (N, 10) logits from ChainNet, which has 704 parameters.

Measured during the search:
    accuracy: 0.9811
    latency_ms: 0.1234
    params: 704

Search: dataset digits, strategy evolution, space chain-cnn.
Genotype: {"stages": [{"op": "conv", "width": 8}, {"kernel": 3, "op": "pool"}]}

Usage:
    from model_tf import build_model, preprocess
    model = build_model("model_tf.weights.h5")  # build_model() for fresh weights
    logits = model(preprocess(pixels))  # channels last
    # Before keras.saving.load_model of a saved .keras file: import model_tf
"""

import keras
from keras import layers

# What the search's dataset did to stored pixel values: divide by SCALE, then per channel
# subtract MEAN and divide by STD (see preprocess below).
SCALE = 16.0
MEAN = (0.3,)
STD = (0.4,)

# Keras finds the helper layers below by this name when it loads a .keras file; it is
# unique to this architecture, so models of several searches load in one process.
_PACKAGE = "ChainNet_f74f89ed"


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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class _PaddedAveragePooling2D(layers.Layer):
    """Average pooling with zero padding that averages real pixels only.

    PyTorch's ``count_include_pad=False``: a window on the border is divided by the
    number of pixels it covers inside the map, not by ``pool_size ** 2``.
    """

    def __init__(self, pool_size: int, strides: int, padding: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.pool_size = pool_size
        self.strides = strides
        self.padding = padding

    def call(self, x):
        p = self.padding
        pads = ((0, 0), (p, p), (p, p), (0, 0))
        # Pooling a padded map of ones gives each window's share of real pixels.
        inside = keras.ops.ones_like(x[:1, :, :, :1])
        total = keras.ops.average_pool(keras.ops.pad(x, pads), self.pool_size, self.strides)
        share = keras.ops.average_pool(keras.ops.pad(inside, pads), self.pool_size, self.strides)
        return total / share


def build_model(weights: str | None = None, num_classes: int = 10) -> keras.Model:
    """The Keras model; calling it runs inference on (N, 8, 8, 1) channels-last inputs.

    ``weights``: the ``.weights.h5`` file exported beside this module (trained, converted).
    """
    inputs = keras.Input((8, 8, 1), name="input")
    x = layers.Conv2D(8, 3, padding="same", name="stem")(inputs)
    x = layers.BatchNormalization(momentum=0.99, epsilon=0.001, name="bn")(x)
    x = layers.ReLU(name="act")(x)
    x = layers.Conv2D(
        8, 3, groups=2, padding="same", dilation_rate=2, use_bias=False, name="grouped"
    )(x)
    x = layers.BatchNormalization(
        momentum=0.9, epsilon=1e-05, center=False, scale=False, name="bn_plain"
    )(x)
    x = layers.ReLU(6.0, name="act6")(x)
    x = _PaddedMaxPooling2D(3, strides=2, padding=1, name="pool")(x)
    x = _PaddedAveragePooling2D(3, strides=1, padding=1, name="smooth")(x)
    x = layers.Activation("hard_swish", name="hswish")(x)
    x = layers.AveragePooling2D(2, name="down")(x)
    x = layers.Permute((3, 1, 2), name="flat.chw")(x)
    x = layers.Flatten(name="flat")(x)
    x = layers.Dropout(0.2, name="drop")(x)
    outputs = layers.Dense(num_classes, use_bias=False, name="fc")(x)
    model = keras.Model(inputs, outputs, name="ChainNet")
    if weights is not None:
        model.load_weights(weights)
    return model


def preprocess(pixels):
    """Pixel values (N, H, W, C) as the dataset stored them -> the network's input."""
    x = keras.ops.cast(pixels, "float32") / SCALE
    return (x - keras.ops.array(MEAN, "float32")) / keras.ops.array(STD, "float32")


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(keras.random.normal((2, 8, 8, 1))).shape)
