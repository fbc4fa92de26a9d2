"""Weight initialisation (Xavier/Glorot and He/Kaiming) and the engine's dtype rule.

float32 is the default everywhere (it halves memory traffic and doubles BLAS throughput); pass ``dtype=np.float64``
to a layer, or call ``Module.astype(np.float64)``, for gradient checks.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

__all__ = ["DEFAULT_DTYPE", "InitName", "init_weight", "fan_in_out", "resolve_dtype"]

DEFAULT_DTYPE = np.float32
InitName = Literal["xavier", "xavier_uniform", "xavier_normal", "he", "he_uniform", "he_normal", "uniform", "normal"]


def resolve_dtype(dtype: Any) -> np.dtype:
    """``None``/"float32" -> float32, "float64" -> float64; anything else must be a float dtype."""
    dt = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
    if dt.kind != "f":
        raise ValueError(f"dtype {dt} is not a floating-point type; use float32 or float64")
    return dt


def fan_in_out(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fans of a weight laid out as (*kernel, in, out): (in * kernel size, out * kernel size)."""
    receptive = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


def init_weight(
    shape: tuple[int, ...], init: InitName, rng: np.random.Generator, dtype: Any = None, gain: float = 1.0
) -> np.ndarray:
    """A new weight array of ``shape`` drawn with the named scheme.

    Args:
        shape: (*kernel, in, out) layout used by every engine layer.
        init: "xavier" (= xavier_uniform, Glorot & Bengio 2010), "he" (= he_normal, He et al. 2015, for ReLU nets),
            "uniform" (PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in))), "normal" (N(0, 0.01^2)).
        rng: the generator to draw from.
        dtype: float32 by default.
        gain: multiplies the standard deviation / bound.
    """
    fan_in, fan_out = fan_in_out(shape)
    if init in ("xavier", "xavier_uniform"):
        bound = gain * np.sqrt(6.0 / (fan_in + fan_out))
        w = rng.uniform(-bound, bound, size=shape)
    elif init == "xavier_normal":
        w = rng.normal(0.0, gain * np.sqrt(2.0 / (fan_in + fan_out)), size=shape)
    elif init in ("he", "he_normal"):
        w = rng.normal(0.0, gain * np.sqrt(2.0 / fan_in), size=shape)
    elif init == "he_uniform":
        bound = gain * np.sqrt(6.0 / fan_in)
        w = rng.uniform(-bound, bound, size=shape)
    elif init == "uniform":
        bound = gain / np.sqrt(fan_in)
        w = rng.uniform(-bound, bound, size=shape)
    elif init == "normal":
        w = rng.normal(0.0, 0.01 * gain, size=shape)
    else:
        raise ValueError(f"unknown init {init!r}; use xavier, xavier_normal, he, he_uniform, uniform or normal")
    return w.astype(resolve_dtype(dtype))
