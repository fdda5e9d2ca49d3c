"""A neural network found by AutoML-CodeGen, written out as standalone TensorFlow/Keras code.

Input: a float32 tensor of shape (N, 9, 9, 2), N being the batch size.
Layout: channels last (NHWC), as Keras expects. From PyTorch's (N, 2, 9, 9):
    x.transpose(0, 2, 3, 1) for NumPy arrays, tf.transpose(x, (0, 2, 3, 1)) for tensors.
Normalisation: not recorded; scale inputs as they were in training.
Output: (N, 3) logits from Parameterised, which has 833 parameters.

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
_PACKAGE = "Parameterised_9a49ff6e"


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


@keras.saving.register_keras_serializable(package=_PACKAGE)
class _Zeros(layers.Layer):
    """Zeros shaped like the input subsampled by ``strides``: a cell's "none" edge."""

    def __init__(self, strides: int = 1, **kwargs) -> None:
        super().__init__(**kwargs)
        self.strides = strides

    def call(self, x):
        if self.strides != 1:
            x = x[:, :: self.strides, :: self.strides, :]
        return keras.ops.zeros_like(x)


# One function per block kind (the PyTorch class, in snake_case). Each adds its layers under
# names that start with ``name``: the module paths of the PyTorch model ("cells.1.inner.conv").
def _param_conv(
    x: keras.KerasTensor,
    c: int,
    k: int,
    stride: int,
    pad: int,
    conv_pad: int,
    dil: int,
    groups: int,
    crop: int,
    name: str,
) -> keras.KerasTensor:
    out = layers.ZeroPadding2D(conv_pad, name=f"{name}.conv.pad")(x) if conv_pad else x
    out = layers.Conv2D(
        c, k, groups=groups, dilation_rate=dil, use_bias=False, name=f"{name}.conv"
    )(out)
    out = layers.MaxPooling2D(1, strides=stride, name=f"{name}.conv.subsample")(out)
    out = layers.ZeroPadding2D(pad, name=f"{name}.dw.pad")(out) if pad else out
    out = layers.DepthwiseConv2D(k, use_bias=False, name=f"{name}.dw")(out)
    max = _PaddedMaxPooling2D(k, strides=stride, padding=pad, name=f"{name}.max")(x)
    avg = _PaddedAveragePooling2D(k, strides=stride, padding=pad, name=f"{name}.avg")(x)
    none = _Zeros(strides=stride, name=f"{name}.none")(x)
    out = layers.Add(name=f"{name}.sum")([out, max, avg, none])
    return layers.Cropping2D(((crop, 0), (crop, 0)), name=f"{name}.cut")(out)


def build_model(weights: str | None = None, num_classes: int = 3) -> keras.Model:
    """The Keras model; calling it runs inference on (N, 9, 9, 2) channels-last inputs.

    ``weights``: the ``.weights.h5`` file exported beside this module (trained, converted).
    """
    inputs = keras.Input((9, 9, 2), name="input")
    x = layers.Conv2D(4, 1, use_bias=False, name="stem")(inputs)
    x = _param_conv(x, c=4, k=3, stride=1, pad=1, conv_pad=1, dil=1, groups=1, crop=0, name="one")
    x = layers.Conv2D(6, 1, use_bias=False, name="widen")(x)
    x = _param_conv(x, c=6, k=5, stride=2, pad=2, conv_pad=4, dil=2, groups=2, crop=1, name="two")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    model = keras.Model(inputs, outputs, name="Parameterised")
    if weights is not None:
        model.load_weights(weights)
    return model


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(keras.random.normal((2, 9, 9, 2))).shape)
