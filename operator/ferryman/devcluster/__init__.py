"""A local Kubernetes cluster for development and tests that needs no Docker engine.

A dev tool, not part of the operator: kwok + real control-plane binaries, one network namespace per
node, and a pod runner that starts each pod's container command as a local process. Nothing in
`ferryman` imports this package.
"""
