"""visionbench.scratch."""
