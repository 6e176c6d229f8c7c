"""Ferryman's API: pydantic models that are the source of truth for the three CRDs (group ferryman.dev).

Python attributes are snake_case, JSON is camelCase. ``Model.model_validate(body)`` reads a raw API object
or Kopf body; ``model_dump(by_alias=True, exclude_none=True)`` gives API JSON.
"""

from ferryman.api.analysis import AnalysisResult, AnalysisSpec, CustomMetric, MetricResult, Verdict
from ferryman.api.base import API_VERSION, GROUP, VERSION, ApiModel, CelRule, Quantity, Timestamp
from ferryman.api.driftmonitor import (
    DriftMonitor,
    DriftMonitorSpec,
    DriftMonitorStatus,
    DriftPhase,
    DriftTests,
    FeatureScore,
    ModelDeploymentRef,
    OnDrift,
    RetrainRecord,
    RetrainSpec,
    TemplateMetadata,
    TrainingJobTemplate,
)
from ferryman.api.durations import DURATION_PATTERN, Duration, parse_duration
from ferryman.api.meta import ApiResource, Condition, ConditionStatus, ObjectMeta
from ferryman.api.model_source import (
    ModelScheme,
    ModelSource,
    ParsedModelUri,
    parse_model_uri,
    uri_version_label,
)
from ferryman.api.modeldeployment import (
    ModelDeployment,
    ModelDeploymentSpec,
    ModelDeploymentStatus,
    RolloutPhase,
)
from ferryman.api.serving import DEFAULT_SERVING_IMAGE, Autoscaling, EnvVar, ResourceRequirements, ServingSpec
from ferryman.api.strategy import (
    AbTestStrategy,
    BlueGreenStrategy,
    CanaryStep,
    CanaryStrategy,
    CookieMatch,
    HeaderMatch,
    HttpMatch,
    PauseStep,
    ShadowStrategy,
    StrategySpec,
)
from ferryman.api.traffic import GatewayTraffic, ParentRef, TrafficMode, TrafficSpec
from ferryman.api.trainingjob import (
    ChampionGate,
    DataCheck,
    DataSource,
    GateResult,
    MetricGate,
    MlflowSpec,
    PromoteSpec,
    TrainingJob,
    TrainingJobSpec,
    TrainingJobStatus,
    TrainingPhase,
    ValidationSpec,
)

RESOURCES: tuple[type[ApiResource], ...] = (ModelDeployment, TrainingJob, DriftMonitor)
"""Every custom resource Ferryman defines, in a stable order."""

__all__ = [
    "API_VERSION",
    "DEFAULT_SERVING_IMAGE",
    "DURATION_PATTERN",
    "GROUP",
    "RESOURCES",
    "VERSION",
    "AbTestStrategy",
    "AnalysisResult",
    "AnalysisSpec",
    "ApiModel",
    "ApiResource",
    "Autoscaling",
    "BlueGreenStrategy",
    "CanaryStep",
    "CanaryStrategy",
    "CelRule",
    "ChampionGate",
    "Condition",
    "ConditionStatus",
    "CookieMatch",
    "CustomMetric",
    "DataCheck",
    "DataSource",
    "DriftMonitor",
    "DriftMonitorSpec",
    "DriftMonitorStatus",
    "DriftPhase",
    "DriftTests",
    "Duration",
    "EnvVar",
    "FeatureScore",
    "GateResult",
    "GatewayTraffic",
    "HeaderMatch",
    "HttpMatch",
    "MetricGate",
    "MetricResult",
    "MlflowSpec",
    "ModelDeployment",
    "ModelDeploymentRef",
    "ModelDeploymentSpec",
    "ModelDeploymentStatus",
    "ModelScheme",
    "ModelSource",
    "ObjectMeta",
    "OnDrift",
    "ParentRef",
    "ParsedModelUri",
    "PauseStep",
    "PromoteSpec",
    "Quantity",
    "ResourceRequirements",
    "RetrainRecord",
    "RetrainSpec",
    "RolloutPhase",
    "ServingSpec",
    "ShadowStrategy",
    "StrategySpec",
    "TemplateMetadata",
    "Timestamp",
    "TrafficMode",
    "TrafficSpec",
    "TrainingJob",
    "TrainingJobSpec",
    "TrainingJobStatus",
    "TrainingJobTemplate",
    "TrainingPhase",
    "ValidationSpec",
    "Verdict",
    "parse_duration",
    "parse_model_uri",
    "uri_version_label",
]
