{{/* Refuse values the platform never sends: a typo must not render a root that prunes everything. */}}
{{- define "root.checked" -}}
{{- $envs := list "dev" "staging" "prod" "local" -}}
{{- if not (has .Values.environment $envs) -}}
{{- fail (printf "environment must be one of %s, got %q" (join ", " $envs) .Values.environment) -}}
{{- end -}}
{{- $exposures := list "istio" "alb" "none" -}}
{{- if not (has .Values.exposure $exposures) -}}
{{- fail (printf "exposure must be one of %s, got %q" (join ", " $exposures) .Values.exposure) -}}
{{- end -}}
{{- if and (eq .Values.environment "local") (eq .Values.exposure "alb") -}}
{{- fail "exposure alb needs the AWS Load Balancer Controller, which the local (kind) environment does not have: use istio or none" -}}
{{- end -}}
{{- if not (or (hasPrefix "https://" .Values.repoURL) (hasPrefix "ssh://" .Values.repoURL) (hasPrefix "git@" .Values.repoURL)) -}}
{{- fail (printf "repoURL must be this repository's https:// or ssh URL, got %q" .Values.repoURL) -}}
{{- end -}}
{{- if not .Values.targetRevision -}}
{{- fail "targetRevision must not be empty" -}}
{{- end -}}
{{- if not .Values.project -}}
{{- fail "project must not be empty" -}}
{{- end -}}
{{- include "root.hostname" (list "hostname" .Values.hostname) -}}
{{- range $name, $app := .Values.workloads -}}
{{- if and (kindIs "map" $app) (hasKey $app "hostname") -}}
{{- include "root.hostname" (list (printf "workloads.%s.hostname" $name) $app.hostname) -}}
{{- end -}}
{{- if not (and (regexMatch "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" $name) (le (len $name) 63)) -}}
{{- fail (printf "workload %q must be a DNS label (it names the Application and the namespace)" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "root.hostname" -}}
{{- $key := index . 0 -}}{{- $host := index . 1 | toString -}}
{{- if and $host (not (regexMatch "^([*][.])?[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" $host)) -}}
{{- fail (printf "%s must be a DNS name like app.example.com (lowercase, optionally *.), or empty for any host; got %q" $key $host) -}}
{{- end -}}
{{- end -}}
