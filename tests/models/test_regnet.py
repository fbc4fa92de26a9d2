"""RegNet (Xu et al.): regulator placement, weight sharing across a stage, state reset or carried, bottleneck."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from visionbench.errors import ConfigError
from visionbench.layers.convrnn import ConvGRUCell, ConvLSTMCell, ConvRNNCell
from visionbench.models import create_model
from visionbench.models.regnet import RegNet, RegulatedBasicBlock, RegulatedBottleneck
from visionbench.models.resnet import BasicBlock


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _regnet(name: str = "regnet20_convlstm", **kw: Any) -> RegNet:
    torch.manual_seed(0)
    return create_model(name, num_classes=10, in_chans=1, img_size=16, **kw)


def _record_cell_calls(model: RegNet) -> dict[str, list[tuple[Any, Any, Any]]]:
    """Per stage key, every cell call as (input x, incoming state, outgoing state)."""
    calls: dict[str, list[tuple[Any, Any, Any]]] = {k: [] for k in model.cells}
    for key, cell in model.cells.items():
        cell.register_forward_hook(lambda m, args, out, key=key: calls[key].append((args[0], args[1], out[1])))
    return calls


@pytest.mark.parametrize(("name", "cell_cls"), [
    ("regnet20_convlstm", ConvLSTMCell), ("regnet20_convgru", ConvGRUCell), ("regnet20_convrnn", ConvRNNCell),
])
def test_one_shared_cell_per_stage(name: str, cell_cls: type) -> None:
    m = _regnet(name)
    assert sorted(m.cells) == ["0", "1", "2"]
    assert all(isinstance(c, cell_cls) for c in m.cells.values())
    assert all(isinstance(b, RegulatedBasicBlock) for stage in m.stages for b in stage)
    calls = _record_cell_calls(m)
    m(torch.randn(2, 1, 16, 16))
    # Three blocks per stage of RegNet-20 = three time steps of the same cell.
    assert [len(calls[k]) for k in ("0", "1", "2")] == [3, 3, 3]
    # The cell reads x2 at the block's output resolution (the first block of stages 1, 2 halves it).
    assert [calls[k][0][0].shape[-1] for k in ("0", "1", "2")] == [16, 8, 4]


def test_regulator_position() -> None:
    m = _regnet(regulated_stages=(1,))
    assert list(m.cells) == ["1"]
    kinds = [type(stage[0]) for stage in m.stages]
    assert kinds == [BasicBlock, RegulatedBasicBlock, BasicBlock]
    assert [s is not None for s in _stage_log(m)] == [False, True, False]


def test_single_regulated_stage_as_int() -> None:
    assert list(_regnet(regulated_stages=2).cells) == ["2"]


def _stage_log(m: RegNet) -> list[Any]:
    m.record_states = True
    m(torch.randn(2, 1, 16, 16))
    return m.stage_states


def test_no_regulated_stage_is_resnet20() -> None:
    reg = _regnet(regulated_stages=())
    res = create_model("resnet20", num_classes=10, in_chans=1, img_size=16)
    assert _params(reg) == _params(res)


def test_regulator_extra_cost() -> None:
    base = _params(create_model("resnet20", num_classes=10, in_chans=1, img_size=16))
    m = _regnet()
    cells = sum(_params(c) for c in m.cells.values())
    # ConvLSTM at width C: one 3x3 conv 2C -> 4C with bias.
    assert cells == sum(2 * c * 4 * c * 9 + 4 * c for c in (16, 32, 64))
    # Per block: a BN on H (2C) and the 1x1 fusion conv 2C -> C with its BN (2C).
    fusion = sum(3 * (2 * c * c + 4 * c) for c in (16, 32, 64))
    assert _params(m) == base + cells + fusion


def test_state_reset_to_zero_at_each_stage() -> None:
    m = _regnet(state_transfer="zero")
    calls = _record_cell_calls(m)
    log = _stage_log(m)
    assert all(entry["initial"] is None for entry in log)
    for key in ("0", "1", "2"):
        first_state = calls[key][0][1]
        assert first_state is None  # the cell starts from init_state: zeros
        # Within a stage the state flows from one block to the next.
        for prev, nxt in zip(calls[key], calls[key][1:]):
            assert nxt[1] is prev[2]
    assert not m.transfers


def test_state_carried_by_conv() -> None:
    m = _regnet(state_transfer="conv")
    assert sorted(m.transfers) == ["1", "2"]
    calls = _record_cell_calls(m)
    m.eval()
    log = _stage_log(m)
    assert log[0]["initial"] is None
    for i, key in ((1, "1"), (2, "2")):
        carried = log[i]["initial"]
        assert carried is calls[key][0][1]
        assert [t.shape for t in carried] == [torch.Size([2, 16 * 2**i, 16 >> i, 16 >> i])] * 2
        with torch.no_grad():
            expected = m.transfers[key](log[i - 1]["final"])
        for got, want in zip(carried, expected):
            torch.testing.assert_close(got, want)
            assert got.abs().sum() > 0


def test_conv_transfer_skips_unregulated_gap() -> None:
    m = _regnet(state_transfer="conv", regulated_stages=(0, 2))
    assert not m.transfers
    assert _stage_log(m)[2]["initial"] is None


def test_cheap_rnn_and_se() -> None:
    full, cheap = _regnet(), _regnet(cheap_rnn=True)
    assert _params(cheap) < _params(full)
    se = _regnet("seregnet20_convlstm")
    assert all(not isinstance(b.se, nn.Identity) for stage in se.stages for b in stage)


def test_gradients_reach_the_cells() -> None:
    m = _regnet(state_transfer="conv")
    m(torch.randn(2, 1, 16, 16)).sum().backward()
    for part in (m.cells, m.transfers):
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())


def test_tiny_bottleneck() -> None:
    torch.manual_seed(0)
    m = RegNet(
        num_classes=5, in_chans=3, img_size=16, block="bottleneck", layers=(2, 2), widths=(8, 16), stem_width=8,
        shortcut="B", state_transfer="conv", record_states=True,
    )
    assert all(isinstance(b, RegulatedBottleneck) for stage in m.stages for b in stage)
    assert m.num_features == 64
    out = m(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 5)
    # Hidden width = the reduced width; the second stage's state is at half resolution.
    assert m.stage_states[1]["final"][0].shape == (2, 16, 8, 8)


def test_bad_options() -> None:
    with pytest.raises(ConfigError, match="did you mean"):
        _regnet(rnn="convlstn")
    with pytest.raises(ConfigError, match="regulated_stages"):
        _regnet(regulated_stages=(3,))
    with pytest.raises(ConfigError, match="state_transfer"):
        _regnet(state_transfer="copy")
