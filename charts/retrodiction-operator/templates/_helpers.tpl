{{/* Names and labels, after `helm create`'s conventions. */}}

{{- define "retrodiction-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "retrodiction-operator.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "retrodiction-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "retrodiction-operator.labels" -}}
helm.sh/chart: {{ include "retrodiction-operator.chart" . }}
{{ include "retrodiction-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "retrodiction-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "retrodiction-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "retrodiction-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "retrodiction-operator.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Both images default to the chart's appVersion, so one chart version runs one operator version. */}}
{{- define "retrodiction-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{- define "retrodiction-operator.workerImage" -}}
{{- printf "%s:%s" .Values.workerImage.repository (default .Chart.AppVersion .Values.workerImage.tag) }}
{{- end }}

{{/* The peering object's name: one per release, so two releases never pause each other. */}}
{{- define "retrodiction-operator.peeringName" -}}
{{- default (include "retrodiction-operator.fullname" .) .Values.peering.name }}
{{- end }}

{{/* The ClusterRole each run's driver is bound to in its namespace. */}}
{{- define "retrodiction-operator.driverClusterRole" -}}
{{- printf "%s-driver" (include "retrodiction-operator.fullname" .) | trunc 253 -}}
{{- end }}
