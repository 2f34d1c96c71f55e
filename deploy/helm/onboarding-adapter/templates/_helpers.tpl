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

{{/*
"true" when the purge CronJob runs: purge.enabled true, or null (the
default) with database.enabled; "" otherwise. purge.enabled true without a
database is refused by validate.
*/}}
{{- define "onboarding-adapter.purgeEnabled" -}}
{{- $p := .Values.purge.enabled -}}
{{- if and .Values.database.enabled (or (kindIs "invalid" $p) $p) -}}true{{- end -}}
{{- end }}

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

{{/*
The Service carrying the admin port: the release's own when it is a
ClusterIP, else a ClusterIP one of its own (service.yaml).
*/}}
{{- define "onboarding-adapter.adminServiceName" -}}
{{- if eq .Values.service.type "ClusterIP" -}}
{{- include "onboarding-adapter.fullname" . -}}
{{- else -}}
{{- printf "%s-admin" (include "onboarding-adapter.fullname" . | trunc 57 | trimSuffix "-") -}}
{{- end -}}
{{- end -}}

{{- define "onboarding-adapter.secretName" -}}
{{- default (include "onboarding-adapter.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "onboarding-adapter.terminationGracePeriodSeconds" -}}
{{- $min := add .Values.preStopSleepSeconds .Values.config.shutdownTimeoutSeconds -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds -}}
{{- add $min 15 -}}
{{- else if lt (int .Values.terminationGracePeriodSeconds) (int (add $min 10)) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must be at least preStopSleepSeconds + config.shutdownTimeoutSeconds + 10 (%v): the pod drains, then closes its adapters and flushes its last spans for up to 5s each, and the kubelet kills it at the end of the grace period" .Values.terminationGracePeriodSeconds (add $min 10)) -}}
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
{{- if and $v.adminAuth.enabled $v.adminAuth.usernamePassword }}
- {name: adminUsername, env: ONBOARDING_ADMIN_USERNAME_FILE, components: [server]}
- {name: adminPassword, env: ONBOARDING_ADMIN_PASSWORD_FILE, components: [server]}
{{- end }}
{{- if and $v.adminAuth.enabled $v.adminAuth.users }}
- {name: adminUsers, env: ONBOARDING_ADMIN_USERS_FILE, components: [server]}
{{- end }}
{{- if and $v.database.enabled $v.database.runtimeRole }}
- {name: databaseUrl, env: ONBOARDING_DATABASE_URL_FILE, components: [server, purge]}
- {name: migrationDatabaseUrl, env: ONBOARDING_DATABASE_URL_FILE, components: [migrate]}
{{- else if $v.database.enabled }}
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
Call with (dict "root" $ "component" "server"|"migrate"|"purge"); "noExtra"
true leaves out extraEnv (the validation lists the chart's own names).
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
{{- if $v.config.pprof }}
- name: ONBOARDING_PPROF_ENABLED
  value: "true"
{{- end }}
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
{{- if $v.redis.enabled }}
{{- /* Server only: the Jobs never open Redis. */}}
- name: ONBOARDING_REDIS_KEY_PREFIX
  value: {{ $v.redis.keyPrefix | quote }}
{{- end }}
{{- if $v.database.enabled }}
- name: ONBOARDING_MIGRATE_AT_START
  value: {{ $v.database.migrateAtStart | quote }}
{{- if $v.database.maxConns }}
- name: ONBOARDING_DB_MAX_CONNS
  value: {{ $v.database.maxConns | int | quote }}
{{- if lt (int $v.database.maxConns) 2 }}
{{- /* the service keeps 2 idle connections by default, more than 1 allowed */}}
- name: ONBOARDING_DB_MIN_CONNS
  value: {{ $v.database.maxConns | int | quote }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if has $c (list "server" "purge") }}
- name: ONBOARDING_POLICY_FILE
  value: {{ printf "%s/policy.yaml" (include "onboarding-adapter.policyDir" .root) | quote }}
{{- /* The same review overrides for the server and the purge: one retention. */}}
{{- with $v.review.retention }}
- name: ONBOARDING_REVIEW_RETENTION
  value: {{ . | quote }}
{{- end }}
{{- if not (kindIs "invalid" $v.review.requireClaim) }}
- name: ONBOARDING_REVIEW_REQUIRE_CLAIM
  value: {{ $v.review.requireClaim | quote }}
{{- end }}
{{- if not (kindIs "invalid" $v.review.fourEyes) }}
- name: ONBOARDING_REVIEW_FOUR_EYES
  value: {{ $v.review.fourEyes | quote }}
{{- end }}
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
{{- if not .noExtra }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
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
{{- if and $v.database.enabled (not $v.redis.enabled) (or $v.autoscaling.enabled (gt (int $v.replicaCount) 1)) -}}
{{- fail "more than one replica (or autoscaling) needs redis.enabled: without Redis each pod throttles and deduplicates OTP sends on its own, so a caller's retry reaching another pod sends a second SMS" -}}
{{- end -}}
{{- if and $v.purge.enabled (not $v.database.enabled) -}}
{{- fail "purge.enabled needs database.enabled: there is nothing to purge in memory" -}}
{{- end -}}
{{- if and $v.pdb.create (not (kindIs "invalid" $v.pdb.minAvailable)) (not (kindIs "invalid" $v.pdb.maxUnavailable)) -}}
{{- fail "pdb: set minAvailable or maxUnavailable, not both" -}}
{{- end -}}
{{- if eq (int $v.containerPorts.api) (int $v.containerPorts.admin) -}}
{{- fail (printf "containerPorts.api and containerPorts.admin are both %v: the service refuses one address for both listeners" $v.containerPorts.api) -}}
{{- end -}}
{{- if $v.pdb.create -}}
{{- /* A budget that allows no eviction hangs every node drain and cluster upgrade on these pods. */ -}}
{{- $replicas := ternary $v.autoscaling.minReplicas $v.replicaCount $v.autoscaling.enabled | int -}}
{{- $min := $v.pdb.minAvailable -}}
{{- $maxU := $v.pdb.maxUnavailable -}}
{{- if not (kindIs "invalid" $min) -}}
{{- $need := int $min -}}
{{- if kindIs "string" $min -}}
{{- /* Kubernetes rounds a percentage of minAvailable up. */ -}}
{{- $need = div (add (mul (trimSuffix "%" $min | int) $replicas) 99) 100 | int -}}
{{- end -}}
{{- if ge $need $replicas -}}
{{- fail (printf "pdb.minAvailable %v with %d replicas (replicaCount, or autoscaling.minReplicas with autoscaling) keeps %d available and so allows no eviction: node drains would hang; use maxUnavailable: 1, or more replicas" $min $replicas $need) -}}
{{- end -}}
{{- end -}}
{{- if and (not (kindIs "invalid" $maxU)) (eq (trimSuffix "%" (toString $maxU) | int) 0) -}}
{{- fail (printf "pdb.maxUnavailable %v allows no eviction: node drains would hang; use 1" $maxU) -}}
{{- end -}}
{{- end -}}
{{- if lt (int64 $v.config.maxImageBodyBytes) (int64 $v.config.maxBodyBytes) -}}
{{- fail (printf "config.maxImageBodyBytes (%v) must be at least config.maxBodyBytes (%v): the service refuses to start otherwise" (int64 $v.config.maxImageBodyBytes) (int64 $v.config.maxBodyBytes)) -}}
{{- end -}}
{{- if and (eq $v.sms.provider "twilio") (not $v.sms.twilio.accountSid) -}}
{{- fail "sms.provider twilio needs sms.twilio.accountSid" -}}
{{- end -}}
{{- if and $v.database.runtimeRole (not $v.database.enabled) -}}
{{- fail "database.runtimeRole needs database.enabled" -}}
{{- end -}}
{{- if and $v.database.runtimeRole $v.database.migrateAtStart -}}
{{- fail "database.migrateAtStart cannot go with database.runtimeRole: the pods connect as that role, which may not change the schema; the migrate Job migrates as the owner" -}}
{{- end -}}
{{- if and $v.database.runtimeRole (not $v.secrets.existingSecret) $v.secrets.databaseUrl -}}
{{- $user := (urlParse $v.secrets.databaseUrl).userinfo | splitList ":" | first -}}
{{- if ne $user $v.database.runtimeRole -}}
{{- fail (printf "secrets.databaseUrl connects as %q, not as database.runtimeRole %q: the pods would keep the rights the role is meant to take away" $user $v.database.runtimeRole) -}}
{{- end -}}
{{- end -}}
{{- if and $v.database.runtimeRole (not $v.secrets.existingSecret) $v.secrets.migrationDatabaseUrl -}}
{{- if eq ((urlParse $v.secrets.migrationDatabaseUrl).userinfo | splitList ":" | first) $v.database.runtimeRole -}}
{{- fail "secrets.migrationDatabaseUrl connects as database.runtimeRole: it must connect as the tables' owner" -}}
{{- end -}}
{{- end -}}
{{- if and $v.secrets.existingMigrationSecret (not (and $v.secrets.existingSecret $v.database.runtimeRole)) -}}
{{- fail "secrets.existingMigrationSecret goes with secrets.existingSecret and database.runtimeRole: it holds the owner's URL apart from the pods' Secret" -}}
{{- end -}}
{{- if and $v.secrets.existingMigrationSecret (eq $v.secrets.existingMigrationSecret $v.secrets.existingSecret) -}}
{{- fail "secrets.existingMigrationSecret names secrets.existingSecret: name the owner's own Secret, or leave it empty" -}}
{{- end -}}
{{- if and $v.database.runtimeRole (not $v.migrations.enabled) -}}
{{- fail "database.runtimeRole needs migrations.enabled: the migrate Job grants the role its privileges" -}}
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
{{- include "onboarding-adapter.validateReview" . -}}
{{- include "onboarding-adapter.validateAdminIngress" . -}}
{{- include "onboarding-adapter.validateOtel" . -}}
{{- include "onboarding-adapter.validateExtraEnv" . -}}
{{- end -}}

{{/*
A Go duration ("2160h", "1h30m", "90m") in seconds, as a float; the schema
has checked the syntax already.
*/}}
{{- define "onboarding-adapter.durationSeconds" -}}
{{- $units := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- $total := 0.0 -}}
{{- range regexFindAll "[0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h)" . -1 -}}
{{- $num := regexFind "^[0-9]+(\\.[0-9]+)?" . -}}
{{- $total = addf $total (mulf (float64 $num) (index $units (trimPrefix $num .))) -}}
{{- end -}}
{{- $total -}}
{{- end -}}

{{/*
Review: the retention's range, the reviewer accounts (checked line by line
in a chart-made Secret, never echoing a line), and four eyes having two
people to work with. The service checks the same at start; refusing here
fails the install instead of crash-looping the pods.
*/}}
{{- define "onboarding-adapter.validateReview" -}}
{{- $v := .Values -}}
{{- $a := $v.adminAuth -}}
{{- if $v.purge.retention -}}
{{- fail "purge.retention was removed: set review.retention instead (ONBOARDING_REVIEW_RETENTION, read by the server and the purge CronJob alike)" -}}
{{- end -}}
{{- with $v.review.retention -}}
{{- $sec := include "onboarding-adapter.durationSeconds" . | float64 -}}
{{- if or (lt $sec 3600.0) (gt $sec 315360000.0) -}}
{{- fail (printf "review.retention (%s) must be between 1h and 87600h (empty: the policy's review.retention)" .) -}}
{{- end -}}
{{- end -}}
{{- if and $v.config.pprof (not $a.enabled) -}}
{{- fail "config.pprof needs adminAuth.enabled: profiles are served only behind the reviewer credentials" -}}
{{- end -}}
{{- if and $a.enabled (not $a.usernamePassword) (not $a.users) -}}
{{- fail "adminAuth.enabled needs adminAuth.usernamePassword or adminAuth.users: which reviewer credentials the Secret holds" -}}
{{- end -}}
{{- $fourEyes := dig "review" "fourEyes" false $v.policy -}}
{{- if not (kindIs "invalid" $v.review.fourEyes) -}}{{- $fourEyes = $v.review.fourEyes -}}{{- end -}}
{{- if $a.enabled -}}
{{- if $v.secrets.existingSecret -}}
{{- if and $fourEyes (not $a.users) -}}
{{- fail (printf "four eyes (review.fourEyes or policy.review.fourEyes) needs at least two reviewer accounts: set adminAuth.users and list them, one name:password per line, under the key %q of Secret %q" $v.secrets.secretKeys.adminUsers $v.secrets.existingSecret) -}}
{{- end -}}
{{- else -}}
{{- $api := lower $v.secrets.basicAuthUsername -}}
{{- $names := list -}}
{{- if $a.usernamePassword -}}
{{- if and $api (eq (lower $v.secrets.adminUsername) $api) -}}
{{- fail "secrets.adminUsername must differ from secrets.basicAuthUsername: reviewers never use the API's credentials" -}}
{{- end -}}
{{- $names = append $names (lower $v.secrets.adminUsername) -}}
{{- end -}}
{{- if $a.users -}}
{{- range $i, $line := splitList "\n" $v.secrets.adminUsers -}}
{{- $n := add1 $i -}}
{{- $line = trim $line -}}
{{- if and $line (not (hasPrefix "#" $line)) -}}
{{- if not (contains ":" $line) -}}
{{- fail (printf "secrets.adminUsers line %d: want name:password or name:bcrypt-hash" $n) -}}
{{- end -}}
{{- $name := trim (index (splitn ":" 2 $line) "_0") -}}
{{- $pw := index (splitn ":" 2 $line) "_1" -}}
{{- if or (not $name) (gt (len $name) 64) -}}
{{- fail (printf "secrets.adminUsers line %d: the name must be 1-64 characters" $n) -}}
{{- end -}}
{{- if not (regexMatch "^\\$2[aby]\\$" $pw) -}}
{{- if lt (len $pw) 12 -}}
{{- fail (printf "secrets.adminUsers line %d: the password must be at least 12 characters (or a bcrypt hash)" $n) -}}
{{- end -}}
{{- end -}}
{{- if has (lower $name) $names -}}
{{- fail (printf "secrets.adminUsers line %d: the reviewer name is used twice; every person needs their own account" $n) -}}
{{- end -}}
{{- if and $api (eq (lower $name) $api) -}}
{{- fail (printf "secrets.adminUsers line %d: the name is the API's (secrets.basicAuthUsername); reviewers never use the API's credentials" $n) -}}
{{- end -}}
{{- $names = append $names (lower $name) -}}
{{- end -}}
{{- end -}}
{{- if not $names -}}
{{- fail "secrets.adminUsers lists no reviewer: one name:password or name:bcrypt-hash per line" -}}
{{- end -}}
{{- end -}}
{{- if and $fourEyes (lt (len $names) 2) -}}
{{- fail (printf "four eyes (review.fourEyes or policy.review.fourEyes) needs at least two reviewer accounts, found %d: add them to secrets.adminUsers with adminAuth.users: true" (len $names)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
The admin port serves health, metrics and the review UI: its peers are
Prometheus, the test pod and, when enabled, the reviewers' internal
ingress. None may be the internet.
*/}}
{{- define "onboarding-adapter.validateAdminIngress" -}}
{{- $v := .Values -}}
{{- $np := $v.networkPolicy -}}
{{- $rv := $np.ingress.reviewers -}}
{{- if and $np.enabled $rv.enabled -}}
{{- if not $rv.from -}}
{{- fail "networkPolicy.ingress.reviewers.from is empty: name the internal ingress controller (namespaceSelector + podSelector) or the reviewers' VPN range (ipBlock), or use kubectl port-forward and leave reviewers off" -}}
{{- end -}}
{{- if not $v.adminAuth.enabled -}}
{{- fail "networkPolicy.ingress.reviewers.enabled needs adminAuth.enabled: without reviewer accounts the review UI is off" -}}
{{- end -}}
{{- end -}}
{{- range $key := list "admin" "reviewers" -}}
{{- range (index $np.ingress $key).from -}}
{{- with .ipBlock -}}
{{- $prefix := regexFind "[0-9]+$" .cidr | int -}}
{{- if lt $prefix (ternary 7 8 (contains ":" .cidr)) -}}
{{- fail (printf "networkPolicy.ingress.%s.from: ipBlock %s is too wide (under /8 for IPv4, /7 for IPv6): the admin port (review UI, metrics) is never for the internet; name the ingress controller's pods or an internal range" $key .cidr) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
OTLP is HTTP only (otlptracehttp): port 4317 is the collector's gRPC
receiver, and the endpoint's port must be one the egress policy opens.
*/}}
{{/*
The TCP port of a URL: its own, else 443 for https and 80 otherwise.
*/}}
{{- define "onboarding-adapter.urlPort" -}}
{{- $u := urlParse . -}}
{{- $port := trimPrefix ":" (regexFind ":[0-9]+$" $u.host) -}}
{{- if not $port -}}{{- $port = ternary "443" "80" (eq $u.scheme "https") -}}{{- end -}}
{{- $port -}}
{{- end -}}

{{/*
"true" when a NetworkPolicy port list opens a port: (dict "port" "443"
"ports" list). A named port cannot be checked here and counts as open.
*/}}
{{- define "onboarding-adapter.portOpen" -}}
{{- $port := .port -}}
{{- $open := false -}}
{{- range .ports -}}
{{- if kindIs "string" .port -}}
{{- $open = true -}}
{{- else if and (ge (int $port) (int .port)) (le (int $port) (int (default .port .endPort))) -}}
{{- $open = true -}}
{{- end -}}
{{- end -}}
{{- if $open -}}true{{- end -}}
{{- end -}}

{{- define "onboarding-adapter.validateOtel" -}}
{{- $v := .Values -}}
{{- with $v.otel.exporterOtlpEndpoint -}}
{{- $port := include "onboarding-adapter.urlPort" . -}}
{{- if eq $port "4317" -}}
{{- fail "otel.exporterOtlpEndpoint uses port 4317, the collector's OTLP/gRPC receiver: the service speaks OTLP/HTTP only (usually port 4318)" -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (not (include "onboarding-adapter.portOpen" (dict "port" $port "ports" $v.networkPolicy.egress.otlp.ports))) -}}
{{- fail (printf "otel.exporterOtlpEndpoint is on port %s, which networkPolicy.egress.otlp.ports does not open: the pods could not reach the collector" $port) -}}
{{- end -}}
{{- end -}}
{{- /* The SMS gateway is outside readiness: a closed port would show only as otpSent:false, every send. */ -}}
{{- $sms := "" -}}
{{- if eq $v.sms.provider "twilio" -}}{{- $sms = default "https://api.twilio.com" $v.sms.twilio.baseUrl -}}{{- end -}}
{{- if eq $v.sms.provider "http" -}}{{- $sms = $v.sms.http.url -}}{{- end -}}
{{- if and $sms $v.networkPolicy.enabled -}}
{{- /* Go's ProxyFromEnvironment: an https URL goes through HTTPS_PROXY, an
http one through HTTP_PROXY (either case, non-empty), unless NO_PROXY names
the host; the pods then open the proxy's port, not the gateway's. */ -}}
{{- $u := urlParse $sms -}}
{{- $host := regexReplaceAll ":[0-9]+$" $u.host "" -}}
{{- $proxy := "" -}}
{{- $noProxy := "" -}}
{{- range $v.extraEnv -}}
{{- if and (eq (upper .name) (printf "%s_PROXY" (upper $u.scheme))) .value -}}{{- $proxy = .value -}}{{- end -}}
{{- if eq (upper .name) "NO_PROXY" -}}{{- $noProxy = default "" .value -}}{{- end -}}
{{- end -}}
{{- range splitList "," $noProxy -}}
{{- $e := trimPrefix "." (trim .) -}}
{{- if and $e (or (eq $e "*") (eq $e $host) (hasSuffix (printf ".%s" $e) $host)) -}}{{- $proxy = "" -}}{{- end -}}
{{- end -}}
{{- $what := printf "the SMS gateway (sms.%s)" $v.sms.provider -}}
{{- $target := $sms -}}
{{- if $proxy -}}
{{- $what = printf "the proxy of the SMS gateway (%s_PROXY)" (upper $u.scheme) -}}
{{- $target = ternary $proxy (printf "http://%s" $proxy) (contains "://" $proxy) -}}
{{- end -}}
{{- $port := include "onboarding-adapter.urlPort" $target -}}
{{- if not (include "onboarding-adapter.portOpen" (dict "port" $port "ports" $v.networkPolicy.egress.sms.ports)) -}}
{{- fail (printf "%s is on port %s, which networkPolicy.egress.sms.ports does not open: every /otp/send would answer otpSent:false" $what $port) -}}
{{- end -}}
{{- end -}}
{{- range $v.extraEnv -}}
{{- if and (has .name (list "OTEL_EXPORTER_OTLP_PROTOCOL" "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")) (hasPrefix "grpc" (default "" .value)) -}}
{{- fail (printf "extraEnv %s=grpc: the service speaks OTLP/HTTP only (http/protobuf or http/json)" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
extraEnv is for settings the chart does not model (ONBOARDING_MAX_IN_FLIGHT,
ONBOARDING_DB_MIN_CONNS...). A name the chart sets would be defined twice
(which one wins is the kubelet's choice), and a secret as a plain value would
put a credential in the pod spec.
*/}}
{{- define "onboarding-adapter.validateExtraEnv" -}}
{{- $own := list "GOMAXPROCS" "GOMEMLIMIT" -}}
{{- range .Values.extraEnv -}}
{{- if eq .name "ONBOARDING_SHUTDOWN_DELAY" -}}
{{- fail "extraEnv sets ONBOARDING_SHUTDOWN_DELAY: the chart delays with preStopSleepSeconds, which terminationGracePeriodSeconds counts; set that instead" -}}
{{- end -}}
{{- end -}}
{{- range $c := list "server" "migrate" "purge" -}}
{{- range (include "onboarding-adapter.env" (dict "root" $ "component" $c "noExtra" true) | fromYamlArray) -}}
{{- $own = append $own .name -}}
{{- end -}}
{{- end -}}
{{- $secretVars := list "BASIC_AUTH_USERNAME" "BASIC_AUTH_PASSWORD" "BASIC_AUTH_NEXT_USERNAME" "BASIC_AUTH_NEXT_PASSWORD" "DATABASE_URL" "REDIS_URL" "OTP_HASH_KEY" "TWILIO_AUTH_TOKEN" "SMS_HTTP_PASSWORD" "SMS_HTTP_TOKEN" "SMS_HTTP_HEADERS" "ADMIN_USERNAME" "ADMIN_PASSWORD" "ADMIN_USERS" -}}
{{- $seen := list -}}
{{- range .Values.extraEnv -}}
{{- if has .name $own -}}
{{- fail (printf "extraEnv sets %s, which the chart already sets from its values: change the value instead (docs/deploy.md)" .name) -}}
{{- end -}}
{{- if has .name $seen -}}
{{- fail (printf "extraEnv sets %s twice" .name) -}}
{{- end -}}
{{- $seen = append $seen .name -}}
{{- $secret := and (has (trimPrefix "ONBOARDING_" .name) $secretVars) (hasPrefix "ONBOARDING_" .name) -}}
{{- if and $secret (has (printf "%s_FILE" .name) $own) -}}
{{- fail (printf "extraEnv sets %s, whose %s_FILE the chart already sets from its values (secrets.* or existingSecret): the service refuses both at start; put the value in that Secret instead" .name .name) -}}
{{- end -}}
{{- if and $secret (not .valueFrom) -}}
{{- fail (printf "extraEnv %s is a secret: put it in the Secret (secrets.*) or use valueFrom.secretKeyRef, never a plain value" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Whether the cluster serves an API, or the value forces rendering: (dict "root" $ "api" "..." "force" bool). */}}
{{- define "onboarding-adapter.hasAPI" -}}
{{- if or .force (.root.Capabilities.APIVersions.Has .api) -}}true{{- end -}}
{{- end -}}

{{/*
GOMEMLIMIT: goMemLimit when set, else 90% of the container's memory limit in
bytes. The Go runtime's limit covers only the memory it manages; the binary's
pages, thread stacks outside the heap and the kernel's own charge count
against the container too, so a limit equal to the container's would let the
heap grow until the OOM killer acts.
*/}}
{{- define "onboarding-adapter.goMemLimit" -}}
{{- if .Values.goMemLimit -}}
{{- .Values.goMemLimit -}}
{{- else -}}
{{- $q := .Values.resources.limits.memory -}}
{{- /* a number in a values file arrives as float64, which toString would write as 2.68435456e+08 */}}
{{- if or (kindIs "float64" $q) (kindIs "int64" $q) (kindIs "int" $q) -}}
{{- $q = printf "%.0f" (float64 $q) -}}
{{- end -}}
{{- $q = toString $q -}}
{{- if not (regexMatch "^[0-9]+(\\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$" $q) -}}
{{- fail (printf "resources.limits.memory %q: the chart derives GOMEMLIMIT (90%% of it) from a number with an optional Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P or E suffix; write it so, or set goMemLimit" $q) -}}
{{- end -}}
{{- $n := regexFind "^[0-9]+(\\.[0-9]+)?" $q | float64 -}}
{{- $unit := regexReplaceAll "^[0-9]+(\\.[0-9]+)?" $q "" -}}
{{- $mult := get (dict "" 1.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 "k" 1000.0 "M" 1000000.0 "G" 1000000000.0 "T" 1000000000000.0 "P" 1000000000000000.0 "E" 1000000000000000000.0) $unit -}}
{{- printf "%.0f" (floor (divf (mulf $n $mult 9) 10)) -}}
{{- end -}}
{{- end -}}
