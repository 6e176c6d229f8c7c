"""What a TrainingJob's operator and its trainer (`ferryman.train`) say to each other: one definition.

The operator starts the training Job with the environment below; the trainer logs its run to MLflow
under the names below; the operator then judges the gates from what the MLflow server holds for that
run (never from the trainer's exit code alone) and moves the alias.
"""

from __future__ import annotations

# Environment the operator gives the training container.
ENV_TRACKING_URI = "MLFLOW_TRACKING_URI"  # MLflow's own client reads it
ENV_TRACKING_TOKEN = "MLFLOW_TRACKING_TOKEN"  # from a Secret, when the operator is told one
ENV_EXPERIMENT = "FERRYMAN_EXPERIMENT"
ENV_REGISTERED_MODEL = "FERRYMAN_REGISTERED_MODEL"
ENV_TRAINING_JOB = "FERRYMAN_TRAINING_JOB"  # NAMESPACE/NAME
ENV_TRAINING_JOB_UID = "FERRYMAN_TRAINING_JOB_UID"
ENV_DATA_URI = "FERRYMAN_DATA_URI"
ENV_DATA_VERSION = "FERRYMAN_DATA_VERSION"
ENV_PARAMS = "FERRYMAN_PARAMS"  # JSON object of strings
ENV_DATA_CHECKS = "FERRYMAN_DATA_CHECKS"  # JSON list of spec.validation.data entries (camelCase)
ENV_CHAMPION_ALIAS = "FERRYMAN_CHAMPION_ALIAS"  # set when validation.mustBeatChampion is
ENV_CHAMPION_METRIC = "FERRYMAN_CHAMPION_METRIC"

# Run tags the trainer sets; the operator finds the run of a TrainingJob by RUN_TAG_TRAINING_JOB_UID.
RUN_TAG_TRAINING_JOB = "ferryman.dev/training-job"
RUN_TAG_TRAINING_JOB_UID = "ferryman.dev/training-job-uid"
RUN_TAG_MODEL_VERSION = "ferryman.dev/model-version"  # the version the trainer registered
RUN_TAG_CHAMPION_VERSION = "ferryman.dev/champion-version"  # the version evaluated as champion
RUN_TAG_DATA_HASH = "ferryman.dev/data-sha256"
RUN_TAG_GIT_COMMIT = "ferryman.dev/git-commit"
RUN_TAG_IMAGE = "ferryman.dev/image"

# Run metrics the trainer logs beside the user's own metrics.
DATA_CHECK_METRIC_PREFIX = "data_check."  # data_check.<check name>: the measured statistic
CHAMPION_METRIC_PREFIX = "champion."  # champion.<metric>: the champion's value on the same holdout
SERVING_P99_MS = "serving_p99_ms"  # the candidate through the serving data plane, on holdout rows
SERVING_VALID = "serving_valid"  # 1.0 when every serving answer was well formed, else 0.0

# Version tags (the operator writes them after judging).
VERSION_TAG_REJECTED = "ferryman.dev/rejected"  # value: JSON {trainingJob, at, reason, gates}
VERSION_TAG_TRAINING_JOB = "ferryman.dev/training-job"  # NAMESPACE/NAME that produced the version

# Exit codes of a trainer that stops for a reason no retry can fix (sysexits.h EX_DATAERR, EX_CONFIG): the
# training Job fails at once on them (podFailurePolicy) instead of training again on the same data.
EXIT_DATA_CHECK_FAILED = 65
EXIT_CONTRACT_ERROR = 78
RUN_TAG_DATA_CHECKS_FAILED = "ferryman.dev/data-checks-failed"  # the trainer's message, when checks failed
RUN_TAG_CHAMPION_ERROR = "ferryman.dev/champion-error"  # why the champion could not be evaluated

# Run tags for lineage, added with the trainer SDK (read by people, not judged by the operator).
RUN_TAG_DATA_URI = "ferryman.dev/data-uri"  # spec.data.uri, as the trainer was given it
RUN_TAG_DATA_VERSION = "ferryman.dev/data-version"  # spec.data.version
