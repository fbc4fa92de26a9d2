"""visionbench.report."""
