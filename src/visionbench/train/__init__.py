"""visionbench.train."""
