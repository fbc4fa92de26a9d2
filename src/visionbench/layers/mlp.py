"""The transformer's position-wise feed-forward network: Linear -> GELU -> dropout -> Linear -> dropout."""

from __future__ import annotations

from torch import Tensor, nn

__all__ = ["Mlp"]


class Mlp(nn.Module):
    """Two linear layers with an activation between them, applied to every token independently.

    Args:
        in_features: token width.
        hidden_features: width of the hidden layer (``mlp_ratio * in_features`` in a ViT); defaults to ``in_features``.
        out_features: output width; defaults to ``in_features``.
        act_layer: activation module class (GELU as in the ViT paper).
        drop: dropout probability after the activation and after the second layer.
        bias: whether the linear layers have a bias.
    """

    def __init__(
        self,
        in_features: int,
        hidden_features: int | None = None,
        out_features: int | None = None,
        act_layer: type[nn.Module] = nn.GELU,
        drop: float = 0.0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        hidden_features = hidden_features or in_features
        out_features = out_features or in_features
        self.fc1 = nn.Linear(in_features, hidden_features, bias=bias)
        self.act = act_layer()
        self.drop1 = nn.Dropout(drop)
        self.fc2 = nn.Linear(hidden_features, out_features, bias=bias)
        self.drop2 = nn.Dropout(drop)

    def forward(self, x: Tensor) -> Tensor:
        x = self.drop1(self.act(self.fc1(x)))
        return self.drop2(self.fc2(x))
