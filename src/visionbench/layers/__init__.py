"""visionbench.layers."""
