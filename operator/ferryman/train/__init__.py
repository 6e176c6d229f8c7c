"""`ferryman.train`: the trainer side of a TrainingJob (the `train` extra).

A training script stays a normal script; it opens `training_run()` (ferryman.train.run), checks its data,
trains, and logs the model through the run. Everything is logged to MLflow under the names in
ferryman.api.training_contract, where the operator reads them to judge the gates. The modules are
imported one by one (`from ferryman.train.run import training_run`) so that the pure ones (data checks,
the model card, the contract environment) load without MLflow.
"""
