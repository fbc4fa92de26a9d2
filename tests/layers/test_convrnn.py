"""ConvRNN / ConvLSTM / ConvGRU cells against their equations written out with F.conv2d on the cells' weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from visionbench.layers.convrnn import ConvGRUCell, ConvLSTMCell, ConvRNNCell, GateConv

B, CIN, CH, S = 2, 4, 6, 5


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, CIN, S, S, generator=g, dtype=torch.float64), torch.randn(
        B, CH, S, S, generator=g, dtype=torch.float64
    )


def _gate(gc: GateConv, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """The gate convolution by hand: full conv on [x, h], or the grouped pair-interleaved two-step conv."""
    if not gc.cheap:
        return F.conv2d(torch.cat([x, h], 1), gc.conv.weight, gc.conv.bias, padding=gc.conv.padding)
    g = gc.groups
    xs, hs = x.chunk(g, dim=1), h.chunk(g, dim=1)
    z = torch.cat([t for pair in zip(xs, hs) for t in pair], dim=1)  # group k = [x slice k, h slice k]
    z = F.conv2d(z, gc.pointwise.weight, None, groups=g)
    return F.conv2d(z, gc.spatial.weight, gc.spatial.bias, padding=gc.spatial.padding, groups=g)


@pytest.mark.parametrize("cheap", [False, True])
def test_convrnn_equation(cheap: bool) -> None:
    torch.manual_seed(0)
    cell = ConvRNNCell(CIN, CH, cheap=cheap, groups=2).double()
    x, h = _inputs()
    out, (h1,) = cell(x, (h,))
    torch.testing.assert_close(out, torch.tanh(_gate(cell.conv, x, h)))
    assert out is h1


@pytest.mark.parametrize("cheap", [False, True])
def test_convlstm_equation(cheap: bool) -> None:
    torch.manual_seed(0)
    cell = ConvLSTMCell(CIN, CH, cheap=cheap, groups=2).double()
    x, h = _inputs()
    c = torch.randn_like(h)
    out, (h1, c1) = cell(x, (h, c))
    a = _gate(cell.conv, x, h)
    i, f, o, g = a[:, :CH], a[:, CH : 2 * CH], a[:, 2 * CH : 3 * CH], a[:, 3 * CH :]
    c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_ref = torch.sigmoid(o) * torch.tanh(c_ref)
    torch.testing.assert_close(c1, c_ref)
    torch.testing.assert_close(h1, h_ref)
    torch.testing.assert_close(out, h_ref)


@pytest.mark.parametrize("cheap", [False, True])
def test_convgru_equation(cheap: bool) -> None:
    torch.manual_seed(0)
    cell = ConvGRUCell(CIN, CH, cheap=cheap, groups=2).double()
    x, h = _inputs()
    out, (h1,) = cell(x, (h,))
    zr = torch.sigmoid(_gate(cell.conv_zr, x, h))
    z, r = zr[:, :CH], zr[:, CH:]
    n = torch.tanh(_gate(cell.conv_n, x, r * h))
    torch.testing.assert_close(out, (1 - z) * h + z * n)
    assert out is h1


@pytest.mark.parametrize("cls", [ConvRNNCell, ConvLSTMCell, ConvGRUCell])
def test_zero_init_state_and_two_steps(cls: type) -> None:
    torch.manual_seed(0)
    cell = cls(CIN, CH).double()
    x, _ = _inputs()
    state = cell.init_state(x)
    assert len(state) == cell.num_states
    assert all(s.shape == (B, CH, S, S) and not s.any() for s in state)
    out_none, st_none = cell(x, None)
    out_zero, _ = cell(x, state)
    torch.testing.assert_close(out_none, out_zero)
    # The second step depends on the first one's state.
    out2, _ = cell(x, st_none)
    assert not torch.allclose(out2, out_none)


def test_cheap_has_fewer_parameters() -> None:
    full = sum(p.numel() for p in ConvLSTMCell(16, 16).parameters())
    cheap = sum(p.numel() for p in ConvLSTMCell(16, 16, cheap=True).parameters())
    assert full == 32 * 64 * 9 + 64
    # Default groups = hidden width: 1x1 with 2 in / 4 out per group, 3x3 with 4 in / 4 out per group, one bias.
    assert cheap == 16 * (2 * 4) + 16 * (4 * 4 * 9) + 64


def test_bad_state_and_groups_raise() -> None:
    cell = ConvLSTMCell(CIN, CH)
    x = torch.randn(B, CIN, S, S)
    with pytest.raises(ValueError, match="state"):
        cell(x, (torch.zeros(B, CH, S, S),))
    with pytest.raises(ValueError, match="input channels"):
        cell(torch.randn(B, CIN + 1, S, S))
    with pytest.raises(ValueError, match="groups"):
        ConvGRUCell(CIN, CH, cheap=True, groups=4)
