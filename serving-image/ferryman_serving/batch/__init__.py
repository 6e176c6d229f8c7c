"""Batch scoring: the served model scores whole datasets (Parquet or CSV) in shards, with the same session
options and input conversion as the online server, and a manifest written last."""
