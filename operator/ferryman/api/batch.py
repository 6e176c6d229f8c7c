"""ModelDeployment spec.batch: score whole datasets on a schedule with the version stable serves."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, WithJsonSchema, field_validator, model_validator

from ferryman.api.base import MAX_LIST, MAX_NAME, MAX_TEXT, MAX_URI, ApiModel, CelRule, Timestamp, cel_rules
from ferryman.api.schedule import schedule_error
from ferryman.api.serving import ResourceRequirements
from ferryman.api.trainingjob import CRON_PATTERN

BatchEngine = Literal["job", "spark"]


class BatchLocation(ApiModel):
    """Where a batch run reads or writes."""

    uri: str = Field(
        min_length=1,
        max_length=MAX_URI,
        description="A path or file:// URI (a volume the batch pods mount), s3://BUCKET/PREFIX (the "
        "FERRYMAN_S3_* settings of spec.serving.env), or, for input only, https:// naming one file. Input: a "
        ".parquet/.csv file or a directory (prefix) of them; output: a directory (prefix).",
    )


# A URI with a scheme must use one batch can read (input) or write (output); anything else is a path.
INPUT_URI_SCHEME = CelRule(
    rule="!self.input.uri.contains('://') || self.input.uri.matches('^(file|s3|https?)://')",
    message="spec.batch.input.uri: use a path, file://, s3:// or https:// (one .parquet or .csv file)",
)
OUTPUT_URI_SCHEME = CelRule(
    rule="!self.output.uri.contains('://') || self.output.uri.matches('^(file|s3)://')",
    message="spec.batch.output.uri: use a path, file:// or s3:// (https:// cannot be written)",
)


def _scheme_allowed(uri: str, schemes: str) -> bool:
    return "://" not in uri or re.match(f"^({schemes})://", uri) is not None


# The columns reach the batch pods as one comma-separated argument, and the command line strips blanks
# around each name: "income,eur" would be read as two columns, " age" as "age".
COLUMN_NAME_PATTERN = r"^[^,\s]([^,]*[^,\s])?$"
ColumnName = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME, pattern=COLUMN_NAME_PATTERN),
    WithJsonSchema({"type": "string", "maxLength": MAX_NAME, "pattern": COLUMN_NAME_PATTERN,
                    "description": "A column name: no comma, no blank at either end."}),
]  # fmt: skip


class BatchSpec(ApiModel, json_schema_extra=cel_rules(INPUT_URI_SCHEME, OUTPUT_URI_SCHEME)):
    """Scheduled batch scoring: an owned CronJob whose runs score spec.batch.input with stable's version."""

    schedule: str = Field(
        max_length=128,
        pattern=CRON_PATTERN,
        description="Cron schedule of the runs (five fields, UTC, or @hourly/@daily/...), as in a CronJob.",
    )
    input: BatchLocation = Field(description="The dataset to score.")
    output: BatchLocation = Field(description="Directory for the parts and manifest.json (written last).")
    engine: BatchEngine = Field(
        default="job",
        description="job: an Indexed Job of `parallelism` shards. spark: one pod running Spark in local "
        "mode with `parallelism` cores (needs spec.batch.image with pyspark and Java).",
    )
    parallelism: int = Field(default=1, ge=1, le=100, description="Shards (job) or Spark cores (spark).")
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_TEXT,
        description=(
            "Image of the batch pods; default the batch image (ferryman-batch: the serving code "
            "plus pyarrow)."
        ),
    )
    resources: ResourceRequirements | None = Field(
        default=None, description="CPU and memory of each batch pod; default the serving pods' defaults."
    )
    features: list[ColumnName] | None = Field(
        default=None,
        max_length=1000,
        description="Feature columns in the model's input order; default the profile's feature names.",
    )
    passthrough: list[ColumnName] | None = Field(
        default=None, max_length=MAX_LIST, description="Input columns copied to the output (e.g. an id)."
    )
    backoff_limit_per_index: int = Field(
        default=2, ge=0, le=20, description="Retries of one failed shard (the others are not rerun)."
    )

    @field_validator("schedule")
    @classmethod
    def _schedule_is_cron(cls, schedule: str) -> str:
        error = schedule_error(schedule)
        if error is not None:
            raise ValueError(error.replace("spec.schedule", "spec.batch.schedule"))
        return schedule

    @model_validator(mode="after")
    def _locations_have_usable_schemes(self) -> Self:
        if not _scheme_allowed(self.input.uri, "file|s3|https?"):
            raise ValueError(INPUT_URI_SCHEME.message)
        if not _scheme_allowed(self.output.uri, "file|s3"):
            raise ValueError(OUTPUT_URI_SCHEME.message)
        return self

    @model_validator(mode="after")
    def _spark_names_its_image(self) -> Self:
        if self.engine == "spark" and self.image is None:
            raise ValueError(
                "spec.batch.image: engine spark needs an image with pyspark and Java (the serving image has "
                "neither); set spec.batch.image or use engine: job"
            )
        return self


class BatchStatus(ApiModel):
    """The last batch run, as the operator saw its Job."""

    cron_job: str | None = Field(default=None, max_length=MAX_NAME, description="The owned CronJob.")
    version_used: str | None = Field(
        default=None, max_length=MAX_TEXT, description="The stable version the CronJob's runs score with."
    )
    model_uri: str | None = Field(default=None, max_length=MAX_URI, description="Its pinned URI (redacted).")
    last_job: str | None = Field(default=None, max_length=MAX_NAME, description="The latest run's Job.")
    last_run: Timestamp | None = Field(default=None, description="When the latest run started.")
    last_result: Literal["Running", "Succeeded", "Failed"] | None = Field(
        default=None, description="How the latest run ended (Running while it runs)."
    )
    duration_seconds: float | None = Field(
        default=None,
        ge=0,
        description=(
            "Start to end of the latest finished run, succeeded or failed (a failed run ends at its "
            "Failed condition)."
        ),
    )
    rows_scored: int | None = Field(
        default=None,
        ge=0,
        description="Rows in the latest run's manifest, when the operator can read the output.",
    )
    failures: int = Field(default=0, ge=0, description="Failed shard pods of the latest run (retried alone).")
    message: str | None = Field(default=None, max_length=MAX_TEXT, description="Why batch is not scheduled.")
