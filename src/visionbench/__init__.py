"""visionbench: build, train and compare image classifiers honestly and fast on the machine you have."""

__version__ = "0.1.0"

from visionbench.errors import VisionbenchError

__all__ = ["VisionbenchError", "__version__"]
