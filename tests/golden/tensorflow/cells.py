"""A neural network found by AutoML-CodeGen, written out as standalone TensorFlow/Keras code.

Input: a float32 tensor of shape (N, 8, 8, 1), N being the batch size.
Layout: channels last (NHWC), as Keras expects. From PyTorch's (N, 1, 8, 8):
    x.transpose(0, 2, 3, 1) for NumPy arrays, tf.transpose(x, (0, 2, 3, 1)) for tensors.
Normalisation: not recorded; scale inputs as they were in training.
Output: (N, 10) logits from CellNet, which has 1,698 parameters.

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
_PACKAGE = "CellNet_fe859e1a"


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
def _conv_bn_act(x: keras.KerasTensor, name: str) -> keras.KerasTensor:
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name=f"{name}.conv")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-05, name=f"{name}.bn")(x)
    return layers.ReLU(name=f"{name}.act")(x)


def _cell(
    s0: keras.KerasTensor, s1: keras.KerasTensor, stride: int, name: str
) -> keras.KerasTensor:
    x = layers.ZeroPadding2D(1, name=f"{name}.dw.pad")(s0)
    x = layers.DepthwiseConv2D(3, strides=stride, use_bias=False, name=f"{name}.dw")(x)
    x = _conv_bn_act(x, name=f"{name}.inner")
    pool = _PaddedMaxPooling2D(3, strides=stride, padding=1, name=f"{name}.pool")(s1)
    none = _Zeros(strides=stride, name=f"{name}.none")(s0)
    total = layers.Add(name=f"{name}.total")([x, pool, none])
    return layers.Concatenate(name=f"{name}.cat")([total, pool])


def build_model(weights: str | None = None, num_classes: int = 10) -> keras.Model:
    """The Keras model; calling it runs inference on (N, 8, 8, 1) channels-last inputs.

    ``weights``: the ``.weights.h5`` file exported beside this module (trained, converted).
    """
    inputs = keras.Input((8, 8, 1), name="input")
    x = layers.Conv2D(8, 3, padding="same", use_bias=False, name="stem")(inputs)
    x = _cell(x, x, stride=1, name="cell1")
    x = layers.Conv2D(8, 1, use_bias=False, name="reduce")(x)
    x = _cell(x, x, stride=2, name="cell2")
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(num_classes, name="fc")(x)
    model = keras.Model(inputs, outputs, name="CellNet")
    if weights is not None:
        model.load_weights(weights)
    return model


if __name__ == "__main__":  # a random batch through the untrained network
    print(build_model()(keras.random.normal((2, 8, 8, 1))).shape)
