{{- define "app.name" -}}{{ .Release.Name }}{{- end -}}

{{- define "app.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "app.labels" -}}
{{ include "app.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "app.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}{{ with .Values.image.digest }}@{{ . }}{{ end }}
{{- end -}}

{{/* Pod-level security: non-root, the image's uid, seccomp RuntimeDefault (Pod Security restricted).
     fsGroup makes the volume writable by that group. */}}
{{- define "app.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsUser }}
fsGroup: {{ .Values.runAsUser }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Container-level security: what Pod Security restricted asks for, and a read-only root. */}}
{{- define "app.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Where pods may run: Linux nodes of the image's architectures (labels every node has, kind's too),
     and a preferred Karpenter capacity type. Never a hard requirement on a Karpenter label. */}}
{{- define "app.affinity" -}}
nodeAffinity:
  requiredDuringSchedulingIgnoredDuringExecution:
    nodeSelectorTerms:
      - matchExpressions:
          - key: kubernetes.io/os
            operator: In
            values: [linux]
          - key: kubernetes.io/arch
            operator: In
            values: {{ toJson .Values.scheduling.architectures }}
  {{- with .Values.scheduling.preferredCapacityType }}
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 50
      preference:
        matchExpressions:
          - key: karpenter.sh/capacity-type
            operator: In
            values: [{{ . }}]
  {{- end }}
{{- end -}}

{{- define "app.checked" -}}
{{- $exposures := list "istio" "alb" "none" -}}
{{- if not (has .Values.exposure $exposures) -}}
{{- fail (printf "exposure must be one of %s, got %q" (join ", " $exposures) .Values.exposure) -}}
{{- end -}}
{{- $capacity := list "" "spot" "on-demand" "reserved" -}}
{{- if not (has .Values.scheduling.preferredCapacityType $capacity) -}}
{{- fail (printf "scheduling.preferredCapacityType must be one of spot, on-demand, reserved or empty, got %q" .Values.scheduling.preferredCapacityType) -}}
{{- end -}}
{{- end -}}
