"""The MLflow model registry: the only module that talks to it (aliases, version tags, webhooks)."""
