"""One training pipeline for both engines: config -> fit -> evaluate -> run directory."""

from visionbench.train.config import TrainConfig, load_config_file
from visionbench.train.loop import TrainResult, evaluate_run, train

__all__ = ["TrainConfig", "TrainResult", "evaluate_run", "load_config_file", "train"]
