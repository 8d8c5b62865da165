{{/* Names and labels. */}}
{{- define "sentinel.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "sentinel.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 38 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 38 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 38 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "sentinel.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "sentinel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The bot's pods: what its Deployment, Services, policies and budget select. */}}
{{- define "sentinel.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sentinel.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: bot
{{- end -}}

{{- define "sentinel.serviceAccountName" -}}
{{- default (include "sentinel.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "sentinel.image" -}}
{{- $repo := required "image.repository is required: build and push the image, then set where it is (docs/deploy.md)" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
A token's Secret and key, as YAML (name, key, create), or nothing when neither an existing Secret
nor a token is given. Arguments: root (the chart's context), cfg (discord, metrics or webhook
values), suffix (the made Secret's name suffix), key (its key), what (for messages).
*/}}
{{- define "sentinel.secretRef" -}}
{{- if and .cfg.existingSecret .cfg.token -}}
{{- fail (printf "%s: set existingSecret or token, not both" .what) -}}
{{- end -}}
{{- if .cfg.existingSecret -}}
name: {{ .cfg.existingSecret }}
key: {{ .cfg.existingSecretKey }}
create: false
{{- else if .cfg.token -}}
name: {{ printf "%s-%s" (include "sentinel.fullname" .root) .suffix }}
key: {{ .key }}
create: true
{{- end -}}
{{- end -}}

{{- define "sentinel.discordSecret" -}}
{{- $ref := include "sentinel.secretRef" (dict "root" . "cfg" .Values.discord "suffix" "discord" "key" "DISCORD_TOKEN" "what" "discord") -}}
{{- if not $ref -}}
{{- fail "discord: the bot token is required: set discord.existingSecret (a Secret with key DISCORD_TOKEN, made with kubectl) or discord.token" -}}
{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "sentinel.metricsSecret" -}}
{{- include "sentinel.secretRef" (dict "root" . "cfg" .Values.metrics "suffix" "metrics" "key" "token" "what" "metrics") -}}
{{- end -}}

{{- define "sentinel.webhookSecret" -}}
{{- if .Values.webhook.enabled -}}
{{- $ref := include "sentinel.secretRef" (dict "root" . "cfg" .Values.webhook "suffix" "webhook" "key" "token" "what" "webhook") -}}
{{- if not $ref -}}
{{- fail "webhook.enabled: the webhook needs its shared token (X-Sentinel-Token): set webhook.existingSecret or webhook.token; without one it answers loopback clients only" -}}
{{- end -}}
{{- $ref -}}
{{- end -}}
{{- end -}}

{{/* The namespaces the workloads ClusterRole is bound in, checked: never a system, protected or sentinel's own namespace. */}}
{{- define "sentinel.workloadNamespaces" -}}
{{- $system := list "kube-system" "kube-public" "kube-node-lease" -}}
{{- $protected := list -}}
{{- with .Values.settings.SENTINEL_PROTECTED_NAMESPACES -}}
{{- range splitList "," (toString .) -}}
{{- $protected = append $protected (trim .) -}}
{{- end -}}
{{- end -}}
{{- range .Values.rbac.workloadNamespaces -}}
{{- if has . $system -}}
{{- fail (printf "rbac.workloadNamespaces: %s is a system namespace: sentinel never acts there, and is never bound there" .) -}}
{{- end -}}
{{- if eq . $.Release.Namespace -}}
{{- fail (printf "rbac.workloadNamespaces: %s is sentinel's own namespace: the bot may not act on its own pods" .) -}}
{{- end -}}
{{- if has . $protected -}}
{{- fail (printf "rbac.workloadNamespaces: %s is in settings.SENTINEL_PROTECTED_NAMESPACES: sentinel would refuse to act there, so it is not bound there" .) -}}
{{- end -}}
{{- end -}}
{{- toJson .Values.rbac.workloadNamespaces -}}
{{- end -}}
