{{/* The release's full name: the release name, or <release>-ferryman when it does not say ferryman. */}}
{{- define "ferryman.fullname" -}}
{{- if contains "ferryman" .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-ferryman" .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ferryman.serviceAccountName" -}}
{{- default (include "ferryman.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{/* Selector labels of the operator pod: stable across upgrades (a Deployment selector is immutable). */}}
{{- define "ferryman.selectorLabels" -}}
app.kubernetes.io/name: ferryman-operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "ferryman.labels" -}}
{{ include "ferryman.selectorLabels" . }}
app.kubernetes.io/part-of: ferryman
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}


{{- /* The registry webhook Service: no selector; the leader points its EndpointSlice at itself. */}}
{{- define "ferryman.registryWebhookService" -}}
{{- printf "%s-registry-webhook" (include "ferryman.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
