"""The NumPy engine: the DIY neural network of the Sorbonne course, modelled on Lua Torch ``nn``.

Imports NumPy only. Data are (batch, features), 1-D signals (batch, length, channels) and images channels-last
(batch, H, W, channels). See ``docs/scratch.md``.
"""

from __future__ import annotations

from visionbench.scratch.activations import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, TanH
from visionbench.scratch.autoencoder import AutoEncoder, TiedLinear
from visionbench.scratch.conv import Conv1D, Conv2D
from visionbench.scratch.init import init_weight
from visionbench.scratch.linear import Linear
from visionbench.scratch.loop import SGD, History, Optim
from visionbench.scratch.losses import BCE, BCELoss, CELogSoftmax, CELoss, Loss, MSELoss, one_hot
from visionbench.scratch.module import Module, Sequential
from visionbench.scratch.norm import BatchNorm, BatchNorm1D, BatchNorm2D, Dropout
from visionbench.scratch.optim import AdamOptimizer, Optimizer, SGDOptimizer, param_options
from visionbench.scratch.pool import AvgPool1D, AvgPool2D, MaxPool1D, MaxPool2D
from visionbench.scratch.shape import Flatten

# The course's French / alternative names, so that its verification script runs unchanged.
Sequentiel = Sequential
Sigmoide = Sigmoid
Tanh = TanH
MSE = MSELoss
CrossEntropy = CELogSoftmax

__all__ = [
    "Module", "Sequential", "Linear", "TanH", "Sigmoid", "ReLU", "LeakyReLU", "Softmax", "LogSoftmax",
    "Conv1D", "Conv2D", "MaxPool1D", "MaxPool2D", "AvgPool1D", "AvgPool2D", "Flatten",
    "BatchNorm", "BatchNorm1D", "BatchNorm2D", "Dropout", "AutoEncoder", "TiedLinear",
    "Loss", "MSELoss", "BCELoss", "CELoss", "CELogSoftmax", "one_hot",
    "Optimizer", "SGDOptimizer", "AdamOptimizer", "param_options", "Optim", "SGD", "History", "init_weight",
    "Sequentiel", "Sigmoide", "Tanh", "MSE", "BCE", "CrossEntropy",
]  # fmt: skip
