"""The roofline: the machine's measured matmul rate, and a model's training FLOPs.

Training FLOPs per sample are counted as 3x the forward pass (forward, then gradients with
respect to activations and to weights) over the layers that dominate: Dense (2 * inputs *
units), convolutions (2 * kernel area * channels in * channels out per output position, fewer
for separable and depthwise ones). Elementwise layers are left out, so this is a lower bound.
"""

import math
import time


def training_flops(model) -> float:
    import keras

    forward = 0.0
    for layer in _layers(model):
        out = layer.output.shape
        if isinstance(layer, keras.layers.Dense):
            forward += 2 * layer.input.shape[-1] * layer.units * math.prod(d or 1 for d in out[1:-1])
        elif isinstance(layer, keras.layers.DepthwiseConv2D):
            forward += 2 * math.prod(layer.kernel_size) * math.prod(out[1:])
        elif isinstance(layer, keras.layers.SeparableConv2D):
            positions = math.prod(out[1:-1])
            channels = layer.input.shape[-1] * layer.depth_multiplier
            forward += 2 * positions * (math.prod(layer.kernel_size) * channels + channels * layer.filters)
        elif isinstance(layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)):
            kernel = math.prod(layer.kernel_size) * layer.input.shape[-1] // layer.groups
            forward += 2 * kernel * math.prod(out[1:])
    return 3 * forward


def _layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _layers(layer)
        else:
            yield layer


def matmul_rate(n: int = 2048, repeats: int = 10) -> float:
    """float32 FLOP/s of a jitted n x n matmul on JAX's default device: the roofline's peak."""
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32)
    f = jax.jit(lambda m: m @ m)
    f(a).block_until_ready()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        f(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


if __name__ == "__main__":
    print(matmul_rate())
