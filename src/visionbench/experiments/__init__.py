"""Named recipes: the comparison job, the DIY report's experiments, the LAB 2 and RegNet studies."""
