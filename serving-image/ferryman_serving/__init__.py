"""Ferryman serving: an Open Inference Protocol V2 server on ONNX Runtime with drift-ready metrics.

This is the lowest layer of Ferryman: it never imports the operator package `ferryman`.
"""

__version__ = "0.1.0"
