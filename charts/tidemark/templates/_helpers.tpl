{{/* The release's base name: every object is "<fullname>-<component>". */}}
{{- define "tidemark.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* The one labels helper. Call with (dict "ctx" $ "component" "name"). */}}
{{- define "tidemark.labels" -}}
{{ include "tidemark.selectorLabels" . }}
app.kubernetes.io/part-of: tidemark
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .ctx.Chart.Name .ctx.Chart.Version }}
{{- end -}}

{{- define "tidemark.selectorLabels" -}}
app.kubernetes.io/name: tidemark
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* An image reference from a component's `image` block; tags are pinned, never "latest". */}}
{{- define "tidemark.image" -}}
{{- $registry := .ctx.Values.global.imageRegistry -}}
{{- if eq .image.tag "latest" -}}{{- fail "image tags must be pinned: \"latest\" is not allowed" -}}{{- end -}}
{{- if $registry -}}{{ printf "%s/%s:%s" $registry .image.repository .image.tag }}{{- else -}}{{ printf "%s:%s" .image.repository .image.tag }}{{- end -}}
{{- end -}}

{{/* Pod and container security: non-root, no privilege escalation, no capabilities. */}}
{{- define "tidemark.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
fsGroup: {{ .uid | default 10001 }}
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "tidemark.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: {{ .readOnly | default false }}
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Fails with a clear message when an operator's CRD is missing and the store is not external. */}}
{{- define "tidemark.requireApi" -}}
{{- if not (.ctx.Capabilities.APIVersions.Has .api) -}}
{{- fail (printf "%s is not installed in this cluster: install %s first (`make operators`), or set %s to use your own" .api .operator .switch) -}}
{{- end -}}
{{- end -}}

{{/* Endpoints, whether the store is ours or external. */}}
{{- define "tidemark.kafkaBootstrap" -}}
{{- if .Values.kafka.external.enabled -}}{{ required "kafka.external.bootstrapServers is required when kafka.external.enabled" .Values.kafka.external.bootstrapServers }}{{- else -}}{{ include "tidemark.fullname" . }}-kafka-bootstrap:9092{{- end -}}
{{- end -}}

{{/* A Kafka client's user: the release's KafkaUser, or the one `kafka.external.users` names.
Call with (dict "ctx" $ "client" "producer|jobs|connect"). */}}
{{- define "tidemark.kafkaUser" -}}
{{- if .ctx.Values.kafka.external.enabled -}}
{{- (index .ctx.Values.kafka.external.users .client).username -}}
{{- else -}}
{{- printf "%s-%s" (include "tidemark.fullname" .ctx) .client -}}
{{- end -}}
{{- end -}}

{{/* The Secret (key `password`) with a Kafka client's password: the one Strimzi's User
Operator writes for its KafkaUser (named after it), or the external user's. */}}
{{- define "tidemark.kafkaUserSecret" -}}
{{- if .ctx.Values.kafka.external.enabled -}}
{{- required (printf "kafka.external.users.%s.existingSecret is required when kafka.external.securityProtocol is %s" .client .ctx.Values.kafka.external.securityProtocol) (index .ctx.Values.kafka.external.users .client).existingSecret -}}
{{- else -}}
{{- include "tidemark.kafkaUser" . -}}
{{- end -}}
{{- end -}}

{{- define "tidemark.kafkaSecurityProtocol" -}}
{{- if .Values.kafka.external.enabled -}}{{ .Values.kafka.external.securityProtocol }}{{- else -}}SASL_PLAINTEXT{{- end -}}
{{- end -}}

{{- define "tidemark.kafkaSaslMechanism" -}}
{{- if .Values.kafka.external.enabled -}}{{ .Values.kafka.external.saslMechanism }}{{- else -}}SCRAM-SHA-512{{- end -}}
{{- end -}}

{{/* A Kafka client's settings for its env: protocol, mechanism, user and, from its Secret, the
password. Call with (dict "ctx" $ "client" "producer|jobs"). */}}
{{- define "tidemark.kafkaClientEnv" -}}
- {name: TIDEMARK_KAFKA_SECURITY_PROTOCOL, value: {{ include "tidemark.kafkaSecurityProtocol" .ctx | quote }}}
{{- if hasPrefix "SASL" (include "tidemark.kafkaSecurityProtocol" .ctx) }}
- {name: TIDEMARK_KAFKA_SASL_MECHANISM, value: {{ include "tidemark.kafkaSaslMechanism" .ctx | quote }}}
- {name: TIDEMARK_KAFKA_USERNAME, value: {{ include "tidemark.kafkaUser" . | quote }}}
- name: TIDEMARK_KAFKA_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "tidemark.kafkaUserSecret" . }}, key: password}
{{- end }}
{{- end -}}

{{/* Debezium's change topic for recruit.job: <topic.prefix>.<database>.job. */}}
{{- define "tidemark.cdcJobTopic" -}}
{{- printf "%s.%s.job" .Values.kafkaConnect.connector.topicPrefix .Values.mysql.recruitDatabase -}}
{{- end -}}

{{- define "tidemark.cassandraHosts" -}}
{{- if .Values.cassandra.external.enabled -}}{{ required "cassandra.external.hosts is required when cassandra.external.enabled" .Values.cassandra.external.hosts }}{{- else -}}{{ include "tidemark.fullname" . }}-{{ .Values.cassandra.datacenter }}-service{{- end -}}
{{- end -}}

{{- define "tidemark.cassandraSecret" -}}
{{- if .Values.cassandra.external.enabled -}}{{ required "cassandra.external.existingSecret is required when cassandra.external.enabled" .Values.cassandra.external.existingSecret }}{{- else -}}{{ include "tidemark.fullname" . }}-superuser{{- end -}}
{{- end -}}

{{- define "tidemark.mysqlHost" -}}
{{- if .Values.mysql.external.enabled -}}{{ required "mysql.external.host is required when mysql.external.enabled" .Values.mysql.external.host }}{{- else -}}{{ include "tidemark.fullname" . }}-mysql{{- end -}}
{{- end -}}

{{- define "tidemark.mysqlPort" -}}
{{- if .Values.mysql.external.enabled -}}{{ .Values.mysql.external.port }}{{- else -}}3306{{- end -}}
{{- end -}}

{{- define "tidemark.mysqlSecret" -}}
{{- .Values.mysql.auth.existingSecret | default (printf "%s-mysql" (include "tidemark.fullname" .)) -}}
{{- end -}}

{{/* The Secret (key `password`) of the MySQL user Debezium connects as. */}}
{{- define "tidemark.debeziumSecret" -}}
{{- if .Values.kafkaConnect.connector.existingSecret -}}
{{- .Values.kafkaConnect.connector.existingSecret -}}
{{- else if .Values.mysql.auth.existingSecret -}}
{{- fail "kafkaConnect.connector.existingSecret is required with mysql.auth.existingSecret: name a Secret with the Debezium user's password (key `password`), the only one Connect may read" -}}
{{- else -}}
{{- include "tidemark.fullname" . }}-mysql-debezium
{{- end -}}
{{- end -}}

{{- define "tidemark.pushgateway" -}}
{{- if .Values.pushgateway.enabled -}}{{ include "tidemark.fullname" . }}-pushgateway:9091{{- end -}}
{{- end -}}

{{/* The install's name in its metrics, the `release` label: what the jobs push it with
(TIDEMARK_RELEASE) and what the monitors add to what they scrape. */}}
{{- define "tidemark.release" -}}
{{ printf "%s/%s" .Release.Namespace .Release.Name }}
{{- end -}}

{{/* Env every tidemark process reads: the ConfigMap plus the secrets, as TIDEMARK_* variables. */}}
{{- define "tidemark.env" -}}
{{ include "tidemark.kafkaClientEnv" (dict "ctx" . "client" "jobs") }}
- name: TIDEMARK_MYSQL_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "tidemark.mysqlSecret" . }}, key: app-password}
- name: TIDEMARK_CASSANDRA_USERNAME
  valueFrom:
    secretKeyRef: {name: {{ include "tidemark.cassandraSecret" . }}, key: username}
- name: TIDEMARK_CASSANDRA_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "tidemark.cassandraSecret" . }}, key: password}
{{- end -}}

{{/* The MySQL passwords as JSON: from the live Secret when it exists (kept across upgrades),
else generated. Memoised in .Values for the render, so every template sees the same ones. */}}
{{- define "tidemark.mysqlPasswords" -}}
{{- if not (hasKey .Values "__mysqlPasswords") -}}
{{- $existing := (lookup "v1" "Secret" .Release.Namespace (include "tidemark.mysqlSecret" .)).data | default dict -}}
{{- $passwords := dict -}}
{{- range $key := list "root-password" "app-password" "debezium-password" "grafana-password" -}}
{{- $_ := set $passwords $key (index $existing $key | default (randAlphaNum 24 | b64enc)) -}}
{{- end -}}
{{- $_ := set .Values "__mysqlPasswords" $passwords -}}
{{- end -}}
{{- toJson (get .Values "__mysqlPasswords") -}}
{{- end -}}

{{/* A stream's topic settings: TIDEMARK_<STREAM>_TOPIC, or one TIDEMARK_<STREAM>_<PART>_TOPIC per
part of a stream with several topics. Call with (dict "name" $name "stream" $stream). */}}
{{- define "tidemark.streamTopics" -}}
{{- if .stream.topics }}
{{- range $part, $topic := .stream.topics }}
  TIDEMARK_{{ upper $.name }}_{{ upper $part }}_TOPIC: {{ $topic | quote }}
{{- end }}
{{- else }}
  TIDEMARK_{{ upper .name }}_TOPIC: {{ .stream.topic | quote }}
{{- end }}
{{- end -}}
