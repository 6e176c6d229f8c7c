"""The pod runner: a small kubelet that runs each pod's containers as local processes."""
