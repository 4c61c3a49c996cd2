{{/* Names are truncated to 63 chars: the DNS label limit for Service names. */}}
{{- define "model-server.fullname" -}}
{{- printf "%s-%s" .Release.Name .Values.model.name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "model-server.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "model-server.labels" -}}
{{ include "model-server.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
mlops.example.com/model: {{ .Values.model.name }}
{{- end -}}

{{- define "model-server.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}
