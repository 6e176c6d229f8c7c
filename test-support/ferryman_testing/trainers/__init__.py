"""Stand-in trainers: real programs a training Job runs in the cluster tier."""
