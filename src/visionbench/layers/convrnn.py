"""Convolutional recurrent cells: ConvRNN, ConvLSTM (Shi et al., arXiv 1506.04214) and ConvGRU.

Every cell maps an input ``x`` (B, C_in, H, W) and a state (a tuple of (B, C_h, H, W) tensors) to a new hidden map
``h`` (B, C_h, H, W) and the new state: ``h, state = cell(x, state)``; ``state=None`` starts from
``cell.init_state(x)`` (zeros). ``*`` below is a convolution over the channel concatenation ``[x, h]`` (one conv of
``C_in + C_h`` input channels, which equals ``W_x * x + W_h * h``); ``⊙`` is the element-wise product.

The cheaper gate convolution of Xu et al. (RegNet, arXiv 2101.00590), ``cheap=True``: instead of a full k x k
conv over ``[x, h]``, a grouped 1x1 conv fuses the channels of each group, then a grouped k x k conv (same groups)
mixes space. Group ``g`` holds the ``g``-th slice of ``x`` next to the ``g``-th slice of ``h``: with ``groups = C_h``
(the default; the paper's "N groups" for C_in = C_h = N) each group fuses one input with one hidden channel.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvRNNCell", "ConvLSTMCell", "ConvGRUCell", "GateConv", "State"]

State = tuple[torch.Tensor, ...]


class GateConv(nn.Module):
    """The convolution over ``[x, h]`` that every gate uses; full or cheap (grouped 1x1 then grouped k x k).

    Args:
        in_channels: channels of ``x``.
        hidden_channels: channels of ``h``.
        out_channels: channels produced (number of gates x ``hidden_channels``).
        kernel_size: spatial kernel (odd, "same" padding).
        cheap: use the grouped two-step convolution.
        groups: groups of the cheap convolution (``None``: ``hidden_channels``); must divide the three widths.
    """

    def __init__(
        self,
        in_channels: int,
        hidden_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        cheap: bool = False,
        groups: int | None = None,
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.cheap = cheap
        pad = kernel_size // 2
        if not cheap:
            self.groups = 1
            self.conv = nn.Conv2d(in_channels + hidden_channels, out_channels, kernel_size, padding=pad)
            return
        g = hidden_channels if groups is None else groups
        if in_channels % g or hidden_channels % g or out_channels % g:
            raise ValueError(
                f"cheap ConvRNN: groups={g} must divide in_channels={in_channels}, hidden_channels={hidden_channels}"
                f" and out_channels={out_channels}"
            )
        self.groups = g
        # The first conv's bias would only be a constant before a linear conv; the second one carries the bias.
        self.pointwise = nn.Conv2d(in_channels + hidden_channels, out_channels, 1, groups=g, bias=False)
        self.spatial = nn.Conv2d(out_channels, out_channels, kernel_size, padding=pad, groups=g)

    def pair(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Concatenate ``x`` and ``h`` along channels, group by group when cheap (see the module docstring)."""
        if not self.cheap:
            return torch.cat([x, h], dim=1)  # (B, C_in + C_h, H, W)
        b, _, hh, ww = x.shape
        g = self.groups
        xg = x.reshape(b, g, -1, hh, ww)  # (B, g, C_in / g, H, W)
        hg = h.reshape(b, g, -1, hh, ww)  # (B, g, C_h / g, H, W)
        return torch.cat([xg, hg], dim=2).reshape(b, -1, hh, ww)  # (B, C_in + C_h, H, W), groups kept together

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Return the pre-activation gates (B, out_channels, H, W)."""
        z = self.pair(x, h)
        if not self.cheap:
            return self.conv(z)
        return self.spatial(self.pointwise(z))


class _ConvCell(nn.Module):
    """Shared plumbing: sizes, zero state, and the ``(h, state)`` calling convention.

    Args:
        in_channels: channels of the input.
        hidden_channels: channels of the hidden state (and of the LSTM's cell state).
        kernel_size: spatial kernel of the gate convolutions.
        cheap: use the grouped 1x1 + grouped k x k convolution (see the module docstring).
        groups: groups of the cheap convolution (``None``: ``hidden_channels``).
    """

    num_states = 1

    def __init__(
        self, in_channels: int, hidden_channels: int, kernel_size: int = 3, cheap: bool = False,
        groups: int | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.hidden_channels = hidden_channels
        self.kernel_size = kernel_size
        self.cheap = cheap
        self.groups = groups
        self._build()

    def _build(self) -> None:  # the subclass's gate convolutions
        raise NotImplementedError

    def _gate_conv(self, n_gates: int) -> GateConv:
        hid = self.hidden_channels
        return GateConv(self.in_channels, hid, n_gates * hid, self.kernel_size, self.cheap, self.groups)

    def init_state(self, x: torch.Tensor) -> State:
        """Zero state for an input ``x`` (B, C_in, H, W): ``num_states`` tensors (B, C_h, H, W)."""
        b, _, h, w = x.shape
        return tuple(x.new_zeros(b, self.hidden_channels, h, w) for _ in range(self.num_states))

    def _check(self, x: torch.Tensor, state: State | None) -> State:  # the state to use, validated
        if x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects {self.in_channels} input channels, got {x.shape[1]}")
        if state is None:
            return self.init_state(x)
        if len(state) != self.num_states or state[0].shape[-2:] != x.shape[-2:]:
            raise ValueError(
                f"{type(self).__name__}: state of {len(state)} tensors {tuple(state[0].shape)} does not match input"
                f" {tuple(x.shape)} (need {self.num_states} tensors at the input's resolution)"
            )
        return state

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.hidden_channels}, kernel_size={self.kernel_size}, cheap={self.cheap}"


class ConvRNNCell(_ConvCell):
    """Plain convolutional RNN: ``h_t = tanh(W * [x_t, h_{t-1}] + b)``; state ``(h,)``.

    Takes the arguments of the shared base: ``(in_channels, hidden_channels, kernel_size=3, cheap=False, groups=None)``.
    """

    num_states = 1

    def _build(self) -> None:
        self.conv = self._gate_conv(1)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One time step; returns ``(h_t, (h_t,))``."""
        (h,) = self._check(x, state)
        h = torch.tanh(self.conv(x, h))
        return h, (h,)


class ConvLSTMCell(_ConvCell):
    """Convolutional LSTM of Shi et al. (2015) without the peephole terms; state ``(h, c)``.

    ``[i, f, o, g] = W * [x_t, h_{t-1}] + b`` (one conv giving 4 C_h channels, split in that order), then
    ``i, f, o = sigmoid(.)``, ``g = tanh(.)``, ``c_t = f ⊙ c_{t-1} + i ⊙ g``, ``h_t = o ⊙ tanh(c_t)``.
    The peepholes (``W_ci ⊙ c`` terms) of the original are left out, as in most later ConvLSTM uses: they add
    H x W x C_h parameters tied to one input size, which would break variable-size inputs.

    Takes the arguments of the shared base: ``(in_channels, hidden_channels, kernel_size=3, cheap=False, groups=None)``.
    """

    num_states = 2

    def _build(self) -> None:
        self.conv = self._gate_conv(4)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One time step; returns ``(h_t, (h_t, c_t))``."""
        h, c = self._check(x, state)
        i, f, o, g = self.conv(x, h).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class ConvGRUCell(_ConvCell):
    """Convolutional GRU; state ``(h,)``.

    ``[z, r] = sigmoid(W_zr * [x_t, h_{t-1}] + b_zr)`` (split in that order),
    ``n = tanh(W_n * [x_t, r ⊙ h_{t-1}] + b_n)``, ``h_t = (1 - z) ⊙ h_{t-1} + z ⊙ n``.

    Takes the arguments of the shared base: ``(in_channels, hidden_channels, kernel_size=3, cheap=False, groups=None)``.
    """

    num_states = 1

    def _build(self) -> None:
        self.conv_zr = self._gate_conv(2)
        self.conv_n = self._gate_conv(1)

    def forward(self, x: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """One time step; returns ``(h_t, (h_t,))``."""
        (h,) = self._check(x, state)
        z, r = torch.sigmoid(self.conv_zr(x, h)).chunk(2, dim=1)
        n = torch.tanh(self.conv_n(x, r * h))
        h = (1 - z) * h + z * n
        return h, (h,)
