"""Thin Kopf handlers. Importing this package registers all of them (`kopf run -m ferryman.handlers`)."""

from ferryman.handlers import model_deployment, rollout_steps, startup

__all__ = ["model_deployment", "rollout_steps", "startup"]
