"""visionbench.experiments."""
