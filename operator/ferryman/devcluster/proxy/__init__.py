"""The service proxy of the dev cluster: ClusterIPs work on the machine and never leave it."""
