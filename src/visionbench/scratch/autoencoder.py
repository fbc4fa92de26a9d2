"""``AutoEncoder``: an encoder and a decoder ``Sequential``, optionally with the decoder's weights tied to the
encoder's (decoder layer i uses the transpose of encoder layer n - 1 - i, Hinton & Salakhutdinov 2006 style)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from visionbench.scratch._probe import shape_probe
from visionbench.scratch.activations import ReLU, Sigmoid, TanH
from visionbench.scratch.init import InitName, resolve_dtype
from visionbench.scratch.linear import Linear
from visionbench.scratch.module import Module, Sequential

__all__ = ["AutoEncoder", "TiedLinear"]


class TiedLinear(Module):
    """Linear layer whose weight is the transpose of another :class:`Linear`'s; only its bias is its own.

    Its weight gradient is added to the source layer's gradient, so an optimiser that updates the source updates both.

    Args:
        source: the layer whose weight (output, input) is used transposed.
        bias: learn an own bias of shape (source.input,).
    """

    def __init__(self, source: Linear, bias: bool = True) -> None:
        super().__init__()
        self.source, self.has_bias = source, bias
        if bias:
            self._params["bias"] = np.zeros(source.input, dtype=source.W.dtype)
            self._grads["bias"] = np.zeros_like(self._params["bias"])

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        out = X @ self.source.W.T
        if self.has_bias:
            out += self._params["bias"]
        return out

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        self.source._grads["weight"] += delta.T @ input  # (source.input, source.output)
        if self.has_bias:
            self._grads["bias"] += delta.sum(axis=0)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta @ self.source.W

    def macs(self, in_shape: tuple[int, ...]) -> int:
        return int(np.prod(in_shape[:-1])) * self.source.input * self.source.output


_ACTS = {"tanh": TanH, "relu": ReLU, "sigmoid": Sigmoid}


class AutoEncoder(Module):
    """Encoder + decoder; ``forward`` reconstructs, :meth:`encode` gives the latent code.

    Build it from two modules, or from layer widths with :meth:`from_widths`.

    Args:
        encoder: maps inputs to the latent code.
        decoder: maps codes back to inputs.
    """

    def __init__(self, encoder: Module, decoder: Module) -> None:
        super().__init__()
        self._modules = {"encoder": encoder, "decoder": decoder}

    @property
    def encoder(self) -> Module:
        return self._modules["encoder"]

    @property
    def decoder(self) -> Module:
        return self._modules["decoder"]

    @classmethod
    def from_widths(
        cls,
        widths: Sequence[int],
        activation: Literal["tanh", "relu", "sigmoid"] = "tanh",
        out_activation: Literal["sigmoid", "none"] = "sigmoid",
        tied: bool = False,
        init: InitName = "xavier",
        rng: np.random.Generator | None = None,
        dtype: Any = None,
    ) -> AutoEncoder:
        """Dense autoencoder ``widths[0] -> ... -> widths[-1] (code) -> ... -> widths[0]``.

        Args:
            widths: input width, hidden widths, code width.
            activation: after every layer except the decoder's last.
            out_activation: on the reconstruction ("sigmoid" for inputs in [0, 1] with BCELoss).
            tied: decoder weights are the transposed encoder weights.
            init: weight scheme.
            rng: generator for the weights.
            dtype: float32 by default.
        """
        rng = rng if rng is not None else np.random.default_rng(0)
        dt = resolve_dtype(dtype)
        act = _ACTS[activation]
        enc_layers = [Linear(a, b, init=init, rng=rng, dtype=dt) for a, b in zip(widths[:-1], widths[1:])]
        encoder = Sequential(*[m for lin in enc_layers for m in (lin, act())])
        dec: list[Module] = []
        for i, lin in enumerate(reversed(enc_layers)):
            dec.append(TiedLinear(lin) if tied else Linear(lin.output, lin.input, init=init, rng=rng, dtype=dt))
            last = i == len(enc_layers) - 1
            if not last:
                dec.append(act())
            elif out_activation == "sigmoid":
                dec.append(Sigmoid())
        return cls(encoder, Sequential(*dec))

    def encode(self, X: np.ndarray) -> np.ndarray:
        """The latent code of ``X``."""
        return self.encoder.forward(X)

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        return self.decoder.forward(self.encoder.forward(X))

    def backward(self, delta: np.ndarray) -> np.ndarray:
        return self.encoder.backward(self.decoder.backward(delta))

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        code = self.encoder.forward(input)
        dcode = self.decoder.backward_delta(code, delta)
        self.decoder.backward_update_gradient(code, delta)
        self.encoder.backward_update_gradient(input, dcode)

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        code = self.encoder.forward(input)
        return self.encoder.backward_delta(input, self.decoder.backward_delta(code, delta))

    def macs(self, in_shape: tuple[int, ...]) -> int:
        with shape_probe(self.encoder) as encoder:
            code_shape = encoder.forward(np.zeros(in_shape, np.float32)).shape
        return self.encoder.macs(in_shape) + self.decoder.macs(code_shape)
