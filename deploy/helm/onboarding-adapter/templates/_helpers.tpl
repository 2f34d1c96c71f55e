{{/* Names and labels. */}}

{{- define "onboarding-adapter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "onboarding-adapter.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "onboarding-adapter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "onboarding-adapter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "onboarding-adapter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "onboarding-adapter.labels" -}}
helm.sh/chart: {{ include "onboarding-adapter.chart" . }}
{{ include "onboarding-adapter.selectorLabels" . }}
app.kubernetes.io/version: {{ include "onboarding-adapter.version" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: onboarding
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The server pods only (the Jobs and the test pod carry other components). */}}
{{- define "onboarding-adapter.serverSelectorLabels" -}}
{{ include "onboarding-adapter.selectorLabels" . }}
app.kubernetes.io/component: server
{{- end -}}

{{- define "onboarding-adapter.version" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{- define "onboarding-adapter.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (include "onboarding-adapter.version" .) -}}
{{- end -}}
{{- end -}}

{{- define "onboarding-adapter.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "onboarding-adapter.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "onboarding-adapter.secretName" -}}
{{- default (include "onboarding-adapter.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "onboarding-adapter.terminationGracePeriodSeconds" -}}
{{- $min := add .Values.preStopSleepSeconds .Values.config.shutdownTimeoutSeconds -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $min 5 -}}
{{- else if le (int .Values.terminationGracePeriodSeconds) (int $min) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be larger than preStopSleepSeconds + config.shutdownTimeoutSeconds (%v), or the kubelet kills the pod mid-drain" .Values.terminationGracePeriodSeconds $min) -}}
{{- else -}}
{{- .Values.terminationGracePeriodSeconds -}}
{{- end -}}
{{- end -}}

{{/*
Secrets: the one catalogue of what the pods read from the Secret. Each entry
is a value name (the key under secrets: and secrets.secretKeys:), the
variable that receives the file path, and the components that need it
(server, migrate, purge). Only entries whose feature is on are listed, so the
chart-made Secret, the volume items and NOTES.txt agree.
*/}}
{{- define "onboarding-adapter.secretEntries" -}}
{{- $v := .Values -}}
{{- if $v.auth.enabled }}
- {name: basicAuthUsername, env: ONBOARDING_BASIC_AUTH_USERNAME_FILE, components: [server]}
- {name: basicAuthPassword, env: ONBOARDING_BASIC_AUTH_PASSWORD_FILE, components: [server]}
{{- if $v.auth.rotation }}
- {name: basicAuthNextUsername, env: ONBOARDING_BASIC_AUTH_NEXT_USERNAME_FILE, components: [server]}
- {name: basicAuthNextPassword, env: ONBOARDING_BASIC_AUTH_NEXT_PASSWORD_FILE, components: [server]}
{{- end }}
{{- end }}
{{- if $v.adminAuth.enabled }}
- {name: adminUsername, env: ONBOARDING_ADMIN_USERNAME_FILE, components: [server]}
- {name: adminPassword, env: ONBOARDING_ADMIN_PASSWORD_FILE, components: [server]}
{{- end }}
{{- if $v.database.enabled }}
- {name: databaseUrl, env: ONBOARDING_DATABASE_URL_FILE, components: [server, migrate, purge]}
{{- end }}
{{- if $v.redis.enabled }}
- {name: redisUrl, env: ONBOARDING_REDIS_URL_FILE, components: [server]}
{{- end }}
{{- if or $v.database.enabled $v.redis.enabled $v.secrets.otpHashKey }}
- {name: otpHashKey, env: ONBOARDING_OTP_HASH_KEY_FILE, components: [server]}
{{- end }}
{{- if eq $v.sms.provider "twilio" }}
- {name: twilioAuthToken, env: ONBOARDING_TWILIO_AUTH_TOKEN_FILE, components: [server]}
{{- end }}
{{- if and (eq $v.sms.provider "http") (eq $v.sms.http.auth "basic") }}
- {name: smsHttpPassword, env: ONBOARDING_SMS_HTTP_PASSWORD_FILE, components: [server]}
{{- end }}
{{- if and (eq $v.sms.provider "http") (eq $v.sms.http.auth "bearer") }}
- {name: smsHttpToken, env: ONBOARDING_SMS_HTTP_TOKEN_FILE, components: [server]}
{{- end }}
{{- if and (eq $v.sms.provider "http") $v.sms.http.secretHeaders }}
- {name: smsHttpHeaders, env: ONBOARDING_SMS_HTTP_HEADERS_FILE, components: [server]}
{{- end }}
{{- end -}}

{{/* The catalogue entries one component needs: call with (dict "root" $ "component" "server"). */}}
{{- define "onboarding-adapter.secretEntriesFor" -}}
{{- $out := list -}}
{{- range (include "onboarding-adapter.secretEntries" .root | fromYamlArray) -}}
{{- if has $.component .components -}}{{- $out = append $out . -}}{{- end -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{- define "onboarding-adapter.secretsDir" -}}/etc/onboarding-adapter/secrets{{- end -}}
{{- define "onboarding-adapter.policyDir" -}}/etc/onboarding-adapter/policy{{- end -}}

{{/*
Environment: the one mapping from values to ONBOARDING_* and OTEL_*
variables, for every component, so a renamed variable is a one-line change.
Call with (dict "root" $ "component" "server"|"migrate"|"purge").
*/}}
{{- define "onboarding-adapter.env" -}}
{{- $v := .root.Values -}}
{{- $c := .component -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: ONBOARDING_LOG_LEVEL
  value: {{ $v.config.logLevel | quote }}
- name: ONBOARDING_LOG_FORMAT
  value: {{ $v.config.logFormat | quote }}
{{- if eq $c "server" }}
- name: ONBOARDING_HTTP_ADDR
  value: {{ printf ":%v" $v.containerPorts.api | quote }}
- name: ONBOARDING_ADMIN_ADDR
  value: {{ printf ":%v" $v.containerPorts.admin | quote }}
- name: ONBOARDING_BASE_PATH
  value: {{ $v.config.basePath | quote }}
- name: ONBOARDING_CORRELATION_HEADER
  value: {{ $v.config.correlationHeader | quote }}
- name: ONBOARDING_REQUEST_ID_HEADER
  value: {{ $v.config.requestIdHeader | quote }}
- name: ONBOARDING_REQUEST_TIMEOUT
  value: {{ $v.config.requestTimeout | quote }}
- name: ONBOARDING_MAX_BODY_BYTES
  value: {{ $v.config.maxBodyBytes | int64 | quote }}
- name: ONBOARDING_MAX_IMAGE_BODY_BYTES
  value: {{ $v.config.maxImageBodyBytes | int64 | quote }}
- name: ONBOARDING_SHUTDOWN_TIMEOUT
  value: {{ printf "%ds" (int $v.config.shutdownTimeoutSeconds) | quote }}
- name: ONBOARDING_DEMO_DATA
  value: {{ $v.config.demoData | quote }}
- name: ONBOARDING_SMS_PROVIDER
  value: {{ $v.sms.provider | quote }}
{{- if eq $v.sms.provider "twilio" }}
{{- with $v.sms.twilio.baseUrl }}
- name: ONBOARDING_TWILIO_BASE_URL
  value: {{ . | quote }}
{{- end }}
- name: ONBOARDING_TWILIO_ACCOUNT_SID
  value: {{ $v.sms.twilio.accountSid | quote }}
{{- with $v.sms.twilio.from }}
- name: ONBOARDING_TWILIO_FROM
  value: {{ . | quote }}
{{- end }}
{{- with $v.sms.twilio.messagingServiceSid }}
- name: ONBOARDING_TWILIO_MESSAGING_SERVICE_SID
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if eq $v.sms.provider "http" }}
- name: ONBOARDING_SMS_HTTP_URL
  value: {{ $v.sms.http.url | quote }}
- name: ONBOARDING_SMS_HTTP_AUTH
  value: {{ $v.sms.http.auth | quote }}
{{- with $v.sms.http.username }}
- name: ONBOARDING_SMS_HTTP_USERNAME
  value: {{ . | quote }}
{{- end }}
{{- with $v.sms.http.bodyTemplate }}
- name: ONBOARDING_SMS_HTTP_BODY_TEMPLATE
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- if $v.database.enabled }}
- name: ONBOARDING_MIGRATE_AT_START
  value: {{ $v.database.migrateAtStart | quote }}
{{- if $v.database.maxConns }}
- name: ONBOARDING_DB_MAX_CONNS
  value: {{ $v.database.maxConns | int | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- if has $c (list "server" "purge") }}
- name: ONBOARDING_POLICY_FILE
  value: {{ printf "%s/policy.yaml" (include "onboarding-adapter.policyDir" .root) | quote }}
{{- end }}
{{- range (include "onboarding-adapter.secretEntriesFor" . | fromYamlArray) }}
- name: {{ .env }}
  value: {{ printf "%s/%s" (include "onboarding-adapter.secretsDir" $.root) .name | quote }}
{{- end }}
- name: OTEL_SERVICE_NAME
  value: {{ default (include "onboarding-adapter.fullname" .root) $v.otel.serviceName | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME),service.version={{ include "onboarding-adapter.version" .root }},onboarding.component={{ $c }}"
{{- if $v.otel.exporterOtlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $v.otel.exporterOtlpEndpoint | quote }}
- name: OTEL_TRACES_EXPORTER
  value: otlp
- name: OTEL_TRACES_SAMPLER
  value: {{ $v.otel.tracesSampler | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $v.otel.tracesSamplerArg | quote }}
{{- else }}
- name: OTEL_TRACES_EXPORTER
  value: none
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The read-only volume of secret files for one component (dict "root" "component"). */}}
{{- define "onboarding-adapter.secretVolume" -}}
{{- $entries := include "onboarding-adapter.secretEntriesFor" . | fromYamlArray -}}
{{- if $entries -}}
- name: secrets
  secret:
    secretName: {{ default (include "onboarding-adapter.secretName" .root) .secretName }}
    defaultMode: 0440
    items:
      {{- range $entries }}
      - key: {{ index $.root.Values.secrets.secretKeys .name }}
        path: {{ .name }}
      {{- end }}
{{- end }}
{{- end -}}

{{- define "onboarding-adapter.secretVolumeMount" -}}
{{- if (include "onboarding-adapter.secretEntriesFor" . | fromYamlArray) -}}
- name: secrets
  mountPath: {{ include "onboarding-adapter.secretsDir" .root }}
  readOnly: true
{{- end }}
{{- end -}}

{{/* Pod-level settings shared by the Deployment, the Jobs and the test pod. */}}
{{- define "onboarding-adapter.podSecurity" -}}
automountServiceAccountToken: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
Checks that span several values (the schema checks each value alone).
Included once, from the Deployment.
*/}}
{{- define "onboarding-adapter.validate" -}}
{{- $v := .Values -}}
{{- if and (not $v.database.enabled) (or $v.autoscaling.enabled (gt (int $v.replicaCount) 1)) -}}
{{- fail "more than one replica (or autoscaling) needs database.enabled: the in-memory storage is per pod, so replicas would disagree" -}}
{{- end -}}
{{- if and $v.purge.enabled (not $v.database.enabled) -}}
{{- fail "purge.enabled needs database.enabled: there is nothing to purge in memory" -}}
{{- end -}}
{{- if and $v.pdb.create (not (kindIs "invalid" $v.pdb.minAvailable)) (not (kindIs "invalid" $v.pdb.maxUnavailable)) -}}
{{- fail "pdb: set minAvailable or maxUnavailable, not both" -}}
{{- end -}}
{{- if and (eq $v.sms.provider "twilio") (not $v.sms.twilio.accountSid) -}}
{{- fail "sms.provider twilio needs sms.twilio.accountSid" -}}
{{- end -}}
{{- if and (eq $v.sms.provider "twilio") (not $v.sms.twilio.from) (not $v.sms.twilio.messagingServiceSid) -}}
{{- fail "sms.provider twilio needs sms.twilio.from or sms.twilio.messagingServiceSid" -}}
{{- end -}}
{{- if and (eq $v.sms.provider "http") (not $v.sms.http.url) -}}
{{- fail "sms.provider http needs sms.http.url" -}}
{{- end -}}
{{- if and (eq $v.sms.provider "http") (eq $v.sms.http.auth "basic") (not $v.sms.http.username) -}}
{{- fail "sms.http.auth basic needs sms.http.username" -}}
{{- end -}}
{{- if not $v.secrets.existingSecret -}}
{{- range (include "onboarding-adapter.secretEntries" . | fromYamlArray) -}}
{{- if not (index $v.secrets .name) -}}
{{- fail (printf "secrets.%s is required with the current values (or set secrets.existingSecret to a Secret holding the key %q)" .name (index $v.secrets.secretKeys .name)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $v.networkPolicy.enabled -}}
{{- $e := $v.networkPolicy.egress -}}
{{- if not $v.networkPolicy.ingress.api.from -}}
{{- fail "networkPolicy.ingress.api.from is empty: nothing could call the API (name the Onboarding Server's namespace/pods, or set networkPolicy.enabled=false)" -}}
{{- end -}}
{{- if and $v.database.enabled (not $e.postgres.to) -}}
{{- fail "networkPolicy.egress.postgres.to is empty but database.enabled: the pods could not reach PostgreSQL" -}}
{{- end -}}
{{- if and $v.redis.enabled (not $e.redis.to) -}}
{{- fail "networkPolicy.egress.redis.to is empty but redis.enabled: the pods could not reach Redis" -}}
{{- end -}}
{{- if and (ne $v.sms.provider "log") (not $e.sms.to) -}}
{{- fail (printf "networkPolicy.egress.sms.to is empty but sms.provider is %s: the pods could not reach the SMS gateway" $v.sms.provider) -}}
{{- end -}}
{{- if and $v.otel.exporterOtlpEndpoint (not $e.otlp.to) -}}
{{- fail "networkPolicy.egress.otlp.to is empty but otel.exporterOtlpEndpoint is set: the pods could not reach the collector" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether the cluster serves an API, or the value forces rendering: (dict "root" $ "api" "..." "force" bool). */}}
{{- define "onboarding-adapter.hasAPI" -}}
{{- if or .force (.root.Capabilities.APIVersions.Has .api) -}}true{{- end -}}
{{- end -}}
