"""The course's ``Module`` and ``Sequential``, plus what a training pipeline needs around them.

A module keeps its parameters in ``_params`` and their accumulated gradients in ``_grads`` (two dicts keyed by
parameter name, same shapes). The course's names are views of them: ``_parameters`` and ``_gradient`` are the arrays
of the module's one weight tensor (``None`` for a module without one), and ``_bias`` / ``_gradient_bias`` those of its
bias, as the course's handout and verification script read them. ``forward`` remembers its input so that
``backward(delta)`` can run the two course methods, ``backward_update_gradient`` (adds to the gradients) and
``backward_delta`` (returns d/dinput), without the caller passing the input again.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from visionbench.scratch._probe import shape_probe

__all__ = ["Module", "Sequential"]


class Module:
    """Base class of every layer and network.

    Attributes:
        _params: parameter arrays by name (``weight``, ``bias``...), updated in place.
        _grads: gradient arrays by name, same shapes, accumulated by ``backward_update_gradient``.
        _parameters, _gradient, _bias, _gradient_bias: the course's names (see the module docstring).
        _buffers: non-trained state saved in ``state_dict`` (BatchNorm running statistics).
        _modules: child modules by name, in order.
        training: train mode (Dropout and BatchNorm behave differently in eval mode).
    """

    def __init__(self) -> None:
        self._params: dict[str, np.ndarray] = {}
        self._grads: dict[str, np.ndarray] = {}
        self._buffers: dict[str, np.ndarray] = {}
        self._modules: dict[str, Module] = {}
        self._input: np.ndarray | None = None
        self._rng: np.random.Generator = np.random.default_rng(0)
        self.training = True

    # -- the course's names for the weight, its bias and their gradients -----------------------------------------
    def _course_get(self, store: str, name: str) -> np.ndarray | None:
        return getattr(self, store).get(name)

    def _course_set(self, store: str, name: str, value: Any) -> None:
        arrays = getattr(self, store)
        if value is None and name not in arrays:
            return
        if name not in arrays:
            raise AttributeError(f"{type(self).__name__} has no {name} to set")
        value = np.asarray(value, dtype=arrays[name].dtype)
        if value.shape != arrays[name].shape:
            raise ValueError(f"{type(self).__name__}.{name}: expected shape {arrays[name].shape}, got {value.shape}")
        arrays[name][...] = value  # in place: optimisers and the gradient dict keep the same array

    _parameters = property(lambda self: self._course_get("_params", "weight"),
                           lambda self, v: self._course_set("_params", "weight", v),
                           doc="The weight array (course API), None for a module without one.")
    _gradient = property(lambda self: self._course_get("_grads", "weight"),
                         lambda self, v: self._course_set("_grads", "weight", v),
                         doc="The accumulated gradient of the weight (course API).")
    _bias = property(lambda self: self._course_get("_params", "bias"),
                     lambda self, v: self._course_set("_params", "bias", v), doc="The bias array, None without one.")
    _gradient_bias = property(lambda self: self._course_get("_grads", "bias"),
                              lambda self, v: self._course_set("_grads", "bias", v),
                              doc="The accumulated gradient of the bias.")

    # -- the course's API -----------------------------------------------------------------------------------------
    def forward(self, X: np.ndarray) -> np.ndarray:
        """Compute the output for a batch ``X`` and remember ``X`` for :meth:`backward`."""
        raise NotImplementedError

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        """Add to ``_gradient`` the gradient of the loss given ``delta`` = d loss / d output."""

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Return d loss / d input given ``delta`` = d loss / d output."""
        raise NotImplementedError

    def zero_grad(self) -> None:
        """Reset every accumulated gradient (this module's and its children's) to zero."""
        for g in self._grads.values():
            g.fill(0)
        for m in self._modules.values():
            m.zero_grad()

    def update_parameters(self, gradient_step: float = 1e-3) -> None:
        """Plain gradient step ``p -= gradient_step * grad`` on every parameter, in place."""
        for name, p in self._params.items():
            p -= gradient_step * self._grads[name]
        for m in self._modules.values():
            m.update_parameters(gradient_step)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        return self.forward(X)

    def backward(self, delta: np.ndarray) -> np.ndarray:
        """Full backward after :meth:`forward`: accumulate the gradients and return d loss / d input."""
        if self._input is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        self.backward_update_gradient(self._input, delta)
        return self.backward_delta(self._input, delta)

    # -- parameters and state -------------------------------------------------------------------------------------
    def children(self) -> Iterator[tuple[str, Module]]:
        """Direct children as (name, module)."""
        return iter(self._modules.items())

    def named_parameters(self, prefix: str = "") -> list[tuple[str, np.ndarray, np.ndarray]]:
        """(dotted name, live parameter array, live gradient array) for this module and its children, stable order."""
        out = [(prefix + name, p, self._grads[name]) for name, p in self._params.items()]
        for cname, child in self._modules.items():
            out.extend(child.named_parameters(f"{prefix}{cname}."))
        return out

    def named_buffers(self, prefix: str = "") -> list[tuple[str, np.ndarray]]:
        """(dotted name, live buffer array) for this module and its children."""
        out = [(prefix + name, b) for name, b in self._buffers.items()]
        for cname, child in self._modules.items():
            out.extend(child.named_buffers(f"{prefix}{cname}."))
        return out

    def parameters(self) -> list[np.ndarray]:
        """The live parameter arrays, in the order of :meth:`named_parameters`."""
        return [p for _, p, _ in self.named_parameters()]

    def num_parameters(self) -> int:
        """Number of trainable scalars."""
        return int(sum(p.size for p in self.parameters()))

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name."""
        d = {name: p.copy() for name, p, _ in self.named_parameters()}
        d.update({name: b.copy() for name, b in self.named_buffers()})
        return d

    def load_state_dict(self, d: dict[str, Any]) -> None:
        """Copy arrays from ``d`` into the live parameters and buffers.

        Raises:
            ValueError: a key is missing, unexpected, or has the wrong shape (the message names the key).
        """
        live = {name: p for name, p, _ in self.named_parameters()}
        live.update(dict(self.named_buffers()))
        missing = sorted(set(live) - set(d))
        unexpected = sorted(set(d) - set(live))
        if missing or unexpected:
            raise ValueError(f"state_dict mismatch: missing keys {missing}, unexpected keys {unexpected}")
        for name, arr in live.items():
            src = np.asarray(d[name])
            if src.shape != arr.shape:
                raise ValueError(f"state_dict key {name!r}: shape {src.shape} does not match the model's {arr.shape}")
            arr[...] = src

    def astype(self, dtype: Any) -> Module:
        """Convert every parameter, gradient and buffer to ``dtype`` (e.g. ``np.float64``); returns self."""
        for d in (self._params, self._grads, self._buffers):
            for k in d:
                d[k] = d[k].astype(dtype)
        for m in self._modules.values():
            m.astype(dtype)
        return self

    # -- modes ----------------------------------------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set train mode here and in every child; returns self."""
        self.training = mode
        for m in self._modules.values():
            m.train(mode)
        return self

    def eval(self) -> Module:
        """Set eval mode here and in every child; returns self."""
        return self.train(False)

    def set_rng(self, rng: np.random.Generator) -> Module:
        """Use ``rng`` for every random draw (Dropout masks) here and in every child; returns self."""
        self._rng = rng
        for m in self._modules.values():
            m.set_rng(rng)
        return self

    def macs(self, in_shape: tuple[int, ...]) -> int:
        """Multiply-adds of one forward pass for an input of shape ``in_shape`` (0 for cheap element-wise layers)."""
        return 0

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        if not self._modules:
            return f"{type(self).__name__}({self.extra_repr()})"
        body = "\n".join(f"  ({n}): " + repr(m).replace("\n", "\n  ") for n, m in self._modules.items())
        return f"{type(self).__name__}(\n{body}\n)"


class Sequential(Module):
    """Layers applied one after the other; its gradients equal the hand-chained ones.

    Args:
        *modules: the layers, in order (a single list is accepted too).
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], list | tuple):
            modules = tuple(modules[0])
        for i, m in enumerate(modules):
            self._modules[str(i)] = m
        self._cached_delta: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    @property
    def layers(self) -> list[Module]:
        """The layers, in order."""
        return list(self._modules.values())

    def append(self, module: Module) -> Sequential:
        """Add a layer at the end; returns self."""
        self._modules[str(len(self._modules))] = module
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __getitem__(self, i: int) -> Module:
        return self.layers[i]

    def forward(self, X: np.ndarray) -> np.ndarray:
        self._input = X
        for m in self._modules.values():
            X = m.forward(X)
        return X

    def backward(self, delta: np.ndarray) -> np.ndarray:
        for m in reversed(self.layers):
            delta = m.backward(delta)
        return delta

    def backward_update_gradient(self, input: np.ndarray, delta: np.ndarray) -> None:
        # Each layer remembers the input of its last forward; rerun forward only for another input.
        if input is not self._input:
            self.forward(input)
        self._cached_delta = (input, delta, self.backward(delta))

    def backward_delta(self, input: np.ndarray, delta: np.ndarray) -> np.ndarray:
        c = self._cached_delta
        if c is not None and c[0] is input and c[1] is delta:
            self._cached_delta = None
            return c[2]
        # Without accumulating: chain the layers' backward_delta only.
        if input is not self._input:
            self.forward(input)
        for m in reversed(self.layers):
            delta = m.backward_delta(m._input, delta)
        return delta

    def macs(self, in_shape: tuple[int, ...]) -> int:
        total = 0
        with shape_probe(self):
            x = np.zeros(in_shape, dtype=np.float32)
            for m in self._modules.values():
                total += m.macs(x.shape)
                x = m.forward(x)  # only for the next layer's input shape
        return total
