"""visionbench.detection."""
