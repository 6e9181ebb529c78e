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

{{/* checkov's skips of a workload, as its annotations, each with why the check does not fit
(checkov runs over the render in the chart tests). The image skips hold for every workload,
the host network's where `hostNetwork` is on. Call with (dict "ctx" $ "skips" (list
"CKV_…=reason" …)) for the workload's own. */}}
{{- define "tidemark.checkovSkips" -}}
{{- $skips := concat (list
  "CKV_K8S_43=a digest is per registry, and locally built images (make images) have none; tags are pinned"
  "CKV_K8S_15=locally built images are loaded into the nodes (kind load), not pulled; global.imagePullPolicy sets the policy"
) .skips -}}
{{- if .ctx.Values.hostNetwork }}
{{- $skips = append $skips "CKV_K8S_19=hostNetwork is on: a node with no pod network, every server on its loopback" }}
{{- end -}}
{{- range $i, $skip := $skips }}
checkov.io/skip{{ add1 $i }}: {{ $skip | quote }}
{{- end }}
{{- end -}}

{{/* A job's own skips (JSON): a Spark driver whose executors are pods keeps its token. Call with
(dict "ctx" $ "continuous" bool), as tidemark.jobPod. */}}
{{- define "tidemark.driverSkips" -}}
{{- if eq (include "tidemark.sparkMode" .) "kubernetes" -}}
{{- list "CKV_K8S_38=the Spark driver creates and deletes its executor pods through the Kubernetes API" | toJson -}}
{{- else -}}
[]
{{- end -}}
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

{{/* A Pod's network with `hostNetwork: true`: the node's, resolving names through the cluster's
DNS where there is one. Nothing ("") on the pod network. */}}
{{- define "tidemark.podNetwork" -}}
{{- if .Values.hostNetwork -}}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end -}}
{{- end -}}

{{/* An httpGet probe's action. The kubelet probes status.podIP, which on the host network is the
node's own address: there it probes loopback. Call with (dict "ctx" $ "path" "/x" "port" "name"). */}}
{{- define "tidemark.httpGet" -}}
{path: {{ .path }}, port: {{ .port }}{{ if .ctx.Values.hostNetwork }}, host: 127.0.0.1{{ end }}}
{{- end -}}

{{/* The Kubernetes API server the Pods that call it use: `kubernetesApi`, or the in-cluster Service. */}}
{{- define "tidemark.kubernetesApi" -}}
{{- .Values.kubernetesApi | default "https://kubernetes.default.svc" -}}
{{- end -}}

{{/* An egress rule to the API server. It is not a pod, and its address depends on the cluster:
the port `kubernetesApi` names, or in-cluster the Service's (443) and the usual server's (6443),
which the Service forwards to. */}}
{{- define "tidemark.kubernetesApiEgress" -}}
{{- if .Values.kubernetesApi -}}
{{- $url := urlParse .Values.kubernetesApi -}}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" | default (ternary "443" "80" (eq $url.scheme "https")) -}}
- ports: [{port: {{ $port }}, protocol: TCP}]
{{- else -}}
- ports: [{port: 443, protocol: TCP}, {port: 6443, protocol: TCP}]
{{- end -}}
{{- end -}}

{{/* Where a job pod's Spark executors run: spark.mode, or for the continuous ingest
jobs.continuousIngest.sparkMode when set. Call with (dict "ctx" $ "continuous" true|false). */}}
{{- define "tidemark.sparkMode" -}}
{{- $mode := .ctx.Values.spark.mode -}}
{{- if and .continuous .ctx.Values.jobs.continuousIngest.sparkMode -}}
{{- $mode = .ctx.Values.jobs.continuousIngest.sparkMode -}}
{{- if not (has $mode (list "local" "kubernetes")) -}}
{{- fail (printf `jobs.continuousIngest.sparkMode must be "", "local" or "kubernetes", not %q` $mode) -}}
{{- end -}}
{{- end -}}
{{- $mode -}}
{{- end -}}

{{/* "true" when some driver of the release runs its executors as pods (its Role, their pod
template, their network), "" otherwise. */}}
{{- define "tidemark.sparkOnKubernetes" -}}
{{- $continuous := and .Values.jobs.continuousIngest.enabled (eq (include "tidemark.sparkMode" (dict "ctx" . "continuous" true)) "kubernetes") -}}
{{- if or (eq .Values.spark.mode "kubernetes") $continuous -}}true{{- end -}}
{{- end -}}

{{/* A driver's Spark settings in a mode, as ConfigMap data: the shared ConfigMap's for
spark.mode, a pod's env where its mode differs. Call with (dict "ctx" $ "mode" "local|kubernetes"). */}}
{{- define "tidemark.sparkSettings" -}}
{{- $ := .ctx -}}
{{- if eq .mode "kubernetes" -}}
TIDEMARK_SPARK_MASTER: {{ printf "k8s://%s" (include "tidemark.kubernetesApi" $) | quote }}
TIDEMARK_SPARK_KUBERNETES_IMAGE: {{ include "tidemark.image" (dict "ctx" $ "image" $.Values.jobs.image) | quote }}
TIDEMARK_SPARK_KUBERNETES_NAMESPACE: {{ $.Release.Namespace | quote }}
TIDEMARK_SPARK_KUBERNETES_SERVICE_ACCOUNT: {{ printf "%s-spark" (include "tidemark.fullname" $) | quote }}
TIDEMARK_SPARK_EXECUTOR_INSTANCES: {{ $.Values.spark.kubernetes.executorInstances | quote }}
TIDEMARK_SPARK_EXECUTOR_MEMORY: {{ $.Values.spark.kubernetes.executorMemory | quote }}
TIDEMARK_SPARK_EXECUTOR_CORES: {{ $.Values.spark.kubernetes.executorCores | quote }}
{{- with $.Values.spark.kubernetes.executorRequestCores }}
TIDEMARK_SPARK_EXECUTOR_REQUEST_CORES: {{ . | quote }}
{{- end }}
TIDEMARK_SPARK_EXECUTOR_POD_TEMPLATE: /etc/tidemark/spark/executor.yaml
{{- else -}}
TIDEMARK_SPARK_MASTER: "local[*]"
{{- end -}}
{{- end -}}

{{/* The streams that get a producer Deployment, in sorted order (a map's range order): a
producer's index here is its metrics port's offset from producer.metricsPort. JSON list. */}}
{{- define "tidemark.producerStreams" -}}
{{- $streams := list -}}
{{- range $name, $stream := .Values.streams -}}
{{- if and $stream.enabled $stream.producer }}{{ $streams = append $streams $name }}{{ end -}}
{{- end -}}
{{- toJson $streams -}}
{{- end -}}

{{/* Fails with a clear message when an operator's CRD is missing and the store is not external. */}}
{{- define "tidemark.requireApi" -}}
{{- if not (.ctx.Capabilities.APIVersions.Has .api) -}}
{{- fail (printf "%s is not installed in this cluster: install %s first (`make operators`), or %s" .api .operator (.or | default (printf "set %s to use your own" .switch))) -}}
{{- end -}}
{{- end -}}

{{/* Endpoints, whether the store is ours or external. */}}
{{- define "tidemark.kafkaBootstrap" -}}
{{- if .Values.kafka.external.enabled -}}{{ required "kafka.external.bootstrapServers is required when kafka.external.enabled" .Values.kafka.external.bootstrapServers }}{{- else -}}{{ include "tidemark.fullname" . }}-kafka-bootstrap:{{ include "tidemark.kafkaPort" . }}{{- end -}}
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

{{/* The chart's own Kafka's listener: TLS (its cluster CA), SCRAM-SHA-512. */}}
{{- define "tidemark.kafkaPort" -}}9093{{- end -}}

{{- define "tidemark.kafkaSecurityProtocol" -}}
{{- if .Values.kafka.external.enabled -}}{{ .Values.kafka.external.securityProtocol }}{{- else -}}SASL_SSL{{- end -}}
{{- end -}}

{{/* The Secret holding the CA certificate the brokers' certificates chain to, which every
client verifies them with; "" when Kafka is not reached over TLS, or the clients trust the
system's CAs. The chart's own Kafka: the cluster CA Strimzi's Cluster Operator keeps in
<cluster>-cluster-ca-cert, key ca.crt. */}}
{{- define "tidemark.kafkaCaSecret" -}}
{{- if hasSuffix "SSL" (include "tidemark.kafkaSecurityProtocol" .) -}}
{{- if .Values.kafka.external.enabled -}}{{ .Values.kafka.external.caSecret.name }}{{- else -}}{{ include "tidemark.fullname" . }}-cluster-ca-cert{{- end -}}
{{- end -}}
{{- end -}}

{{- define "tidemark.kafkaCaKey" -}}
{{- if .Values.kafka.external.enabled -}}{{ .Values.kafka.external.caSecret.key }}{{- else -}}ca.crt{{- end -}}
{{- end -}}

{{/* "true" when the chart's own MySQL, or its own Cassandra, speaks TLS. */}}
{{- define "tidemark.ownMysqlTls" -}}
{{- if and .Values.mysql.enabled (not .Values.mysql.external.enabled) .Values.mysql.tls.enabled -}}true{{- end -}}
{{- end -}}

{{- define "tidemark.ownCassandraTls" -}}
{{- if and .Values.cassandra.enabled (not .Values.cassandra.external.enabled) .Values.cassandra.tls.enabled -}}true{{- end -}}
{{- end -}}

{{/* The release's CA (made once by the passwords hook), cert-manager's Issuer of the same
name signing the stores' certificates, and the Secret with the password of the Java stores
cert-manager writes beside them; "" when no store of the chart's speaks TLS. */}}
{{- define "tidemark.authority" -}}
{{- if or (include "tidemark.ownMysqlTls" .) (include "tidemark.ownCassandraTls" .) -}}{{ include "tidemark.fullname" . }}-ca{{- end -}}
{{- end -}}

{{- define "tidemark.storesPasswordSecret" -}}{{ include "tidemark.fullname" . }}-stores{{- end -}}

{{/* The Secret holding the CA a MySQL's or Cassandra's certificate chains to (keys ca.crt and
truststore.p12): the chart's own store's certificate Secret, or the one `external.caSecret`
names; "" when the clients are not told one. */}}
{{- define "tidemark.mysqlCaSecret" -}}
{{- if .Values.mysql.external.enabled -}}{{ .Values.mysql.external.caSecret }}{{- else if include "tidemark.ownMysqlTls" . -}}{{ include "tidemark.fullname" . }}-mysql-tls{{- end -}}
{{- end -}}

{{- define "tidemark.cassandraCaSecret" -}}
{{- if .Values.cassandra.external.enabled -}}{{ .Values.cassandra.external.caSecret }}{{- else if include "tidemark.ownCassandraTls" . -}}{{ include "tidemark.fullname" . }}-cassandra-tls{{- end -}}
{{- end -}}

{{/* The Secret with that truststore's password (key truststore-password): an external store's
CA Secret, or the chart's stores' password Secret. */}}
{{- define "tidemark.truststorePasswordSecret" -}}
{{- if .external -}}{{ .external }}{{- else -}}{{ include "tidemark.storesPasswordSecret" .ctx }}{{- end -}}
{{- end -}}

{{/* Where a pod finds the CAs its clients verify their servers with: one directory, one file
per server (TIDEMARK_KAFKA_CA_FILE, TIDEMARK_MYSQL_CA_FILE, TIDEMARK_CASSANDRA_CA_FILE), and
Cassandra's CA again as a PKCS12 truststore for Spark's connector, which reads no PEM. */}}
{{- define "tidemark.caDir" -}}/etc/tidemark/ca{{- end -}}

{{- define "tidemark.caSources" -}}
{{- with include "tidemark.kafkaCaSecret" . }}
- secret: {name: {{ . }}, items: [{key: {{ include "tidemark.kafkaCaKey" $ }}, path: kafka.crt}]}
{{- end }}
{{- with include "tidemark.mysqlCaSecret" . }}
- secret: {name: {{ . }}, items: [{key: ca.crt, path: mysql.crt}]}
{{- end }}
{{- with include "tidemark.cassandraCaSecret" . }}
- secret: {name: {{ . }}, items: [{key: ca.crt, path: cassandra.crt}, {key: truststore.p12, path: cassandra-truststore.p12}]}
{{- end }}
{{- end -}}

{{/* Those CAs as a volume, and its mount, in every client's pod (none without a CA). */}}
{{- define "tidemark.caVolume" -}}
{{- with include "tidemark.caSources" . }}
- name: ca
  projected:
    sources: {{- . | nindent 6 }}
{{- end }}
{{- end -}}

{{- define "tidemark.caMount" -}}
{{- if include "tidemark.caSources" . }}
- {name: ca, mountPath: {{ include "tidemark.caDir" . }}, readOnly: true}
{{- end }}
{{- end -}}

{{/* The stores' CA settings for a client's env (the truststore's password is a file: jobSecrets). */}}
{{- define "tidemark.mysqlTlsEnv" -}}
{{- if include "tidemark.mysqlCaSecret" . }}
- {name: TIDEMARK_MYSQL_CA_FILE, value: {{ printf "%s/mysql.crt" (include "tidemark.caDir" .) | quote }}}
{{- end }}
{{- end -}}

{{- define "tidemark.cassandraTlsEnv" -}}
{{- if include "tidemark.cassandraCaSecret" . }}
- {name: TIDEMARK_CASSANDRA_CA_FILE, value: {{ printf "%s/cassandra.crt" (include "tidemark.caDir" .) | quote }}}
- {name: TIDEMARK_CASSANDRA_TRUSTSTORE_FILE, value: {{ printf "%s/cassandra-truststore.p12" (include "tidemark.caDir" .) | quote }}}
{{- if include "tidemark.ownCassandraTls" . }}
# Its nodes share one certificate, for the service's name; they are reached by address.
- {name: TIDEMARK_CASSANDRA_TLS_SERVER_NAME, value: {{ include "tidemark.cassandraHosts" . | quote }}}
{{- end }}
{{- end }}
{{- end -}}

{{- define "tidemark.kafkaSaslMechanism" -}}
{{- if .Values.kafka.external.enabled -}}{{ .Values.kafka.external.saslMechanism }}{{- else -}}SCRAM-SHA-512{{- end -}}
{{- end -}}

{{/* A process's secret settings as files named as their variables in /etc/tidemark/secrets,
which the processes read (wire/env.py): never in the environment, where `kubectl describe`, a
crash report or a child process would show them. `secretSources` are projected-volume sources,
one per (Secret, key, variable); call with (dict "secret" S "key" K "variable" V). */}}
{{- define "tidemark.secretSource" -}}
- secret: {name: {{ .secret }}, items: [{key: {{ .key }}, path: {{ .variable }}}]}
{{- end -}}

{{/* The volume of those files for a pod; call with the sources' text. */}}
{{- define "tidemark.secretsVolume" -}}
- name: secrets
  projected:
    sources: {{- . | nindent 6 }}
{{- end -}}

{{- define "tidemark.secretsMount" -}}
- {name: secrets, mountPath: /etc/tidemark/secrets, readOnly: true}
{{- end -}}

{{/* A Kafka client's password from its user's Secret. Call with (dict "ctx" $ "client" …). */}}
{{- define "tidemark.kafkaClientSecrets" -}}
{{- if hasPrefix "SASL" (include "tidemark.kafkaSecurityProtocol" .ctx) }}
{{ include "tidemark.secretSource" (dict "secret" (include "tidemark.kafkaUserSecret" .) "key" "password" "variable" "TIDEMARK_KAFKA_PASSWORD") }}
{{- end }}
{{- end -}}

{{/* A Kafka client's settings for its env: protocol, CA, mechanism and user (its password is a
file: kafkaClientSecrets). Call with (dict "ctx" $ "client" "producer|jobs"). */}}
{{- define "tidemark.kafkaClientEnv" -}}
- {name: TIDEMARK_KAFKA_SECURITY_PROTOCOL, value: {{ include "tidemark.kafkaSecurityProtocol" .ctx | quote }}}
{{- if include "tidemark.kafkaCaSecret" .ctx }}
- {name: TIDEMARK_KAFKA_CA_FILE, value: {{ printf "%s/kafka.crt" (include "tidemark.caDir" .ctx) | quote }}}
{{- end }}
{{- if hasPrefix "SASL" (include "tidemark.kafkaSecurityProtocol" .ctx) }}
- {name: TIDEMARK_KAFKA_SASL_MECHANISM, value: {{ include "tidemark.kafkaSaslMechanism" .ctx | quote }}}
- {name: TIDEMARK_KAFKA_USERNAME, value: {{ include "tidemark.kafkaUser" . | quote }}}
{{- end }}
{{- end -}}

{{/* "true" when recruit.job's changes reach Kafka (so dims has work): through the chart's own
Kafka Connect, or a Debezium you run yourself; "" otherwise. */}}
{{- define "tidemark.cdc" -}}
{{- if or .Values.kafkaConnect.enabled .Values.kafkaConnect.external.enabled -}}true{{- end -}}
{{- end -}}

{{/* "true" when the chart deploys Kafka Connect and Debezium itself. */}}
{{- define "tidemark.ownConnect" -}}
{{- if and .Values.kafkaConnect.enabled (not .Values.kafkaConnect.external.enabled) -}}true{{- end -}}
{{- end -}}

{{/* Debezium's change topic for recruit.job: <topic.prefix>.<database>.job. */}}
{{- define "tidemark.cdcJobTopic" -}}
{{- printf "%s.%s.job" .Values.kafkaConnect.connector.topicPrefix .Values.mysql.recruitDatabase -}}
{{- end -}}

{{- define "tidemark.cassandraHosts" -}}
{{- if .Values.cassandra.external.enabled -}}{{ required "cassandra.external.hosts is required when cassandra.external.enabled" .Values.cassandra.external.hosts }}{{- else -}}{{ include "tidemark.fullname" . }}-{{ .Values.cassandra.datacenter }}-service{{- end -}}
{{- end -}}

{{/* The Secret (username, password) of the jobs' Cassandra role: the chart's own, whose role
migrate creates, or the one a user's Cassandra gave them. */}}
{{- define "tidemark.cassandraSecret" -}}
{{- if .Values.cassandra.external.enabled -}}{{ required "cassandra.external.existingSecret is required when cassandra.external.enabled" .Values.cassandra.external.existingSecret }}{{- else -}}{{ include "tidemark.fullname" . }}-cassandra-app{{- end -}}
{{- end -}}

{{/* The Secret (username, password) of the role that creates the keyspace, its tables and the
jobs' role, which only migrate mounts: the superuser's k8ssandra-operator writes
(<cluster>-superuser), or the one `cassandra.external.adminSecret` names. */}}
{{- define "tidemark.cassandraAdminSecret" -}}
{{- if .Values.cassandra.external.enabled -}}
{{- required "cassandra.external.adminSecret is required when cassandra.external.enabled: name a Secret (keys username, password) of a role that may create the keyspace, its tables and the jobs' role; only migrate mounts it" .Values.cassandra.external.adminSecret -}}
{{- else -}}
{{- include "tidemark.fullname" . }}-superuser
{{- end -}}
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

{{/* A component's MySQL account: (dict "ctx" $ "component" "jobs|producer|migrate") gives
{"user", "key" (its key in the MySQL Secret), "secret" (its own Secret, key `password`)}. */}}
{{- define "tidemark.mysqlAccount" -}}
{{- $users := dict "jobs" "tidemark" "producer" "tidemark_producer" "migrate" "tidemark_migrate" -}}
{{- $keys := dict "jobs" "app-password" "producer" "producer-password" "migrate" "migrate-password" -}}
{{- $own := index .ctx.Values.mysql.auth.existingSecrets .component -}}
{{- if and .ctx.Values.mysql.auth.existingSecret (not $own) -}}
{{- fail (printf "mysql.auth.existingSecrets.%s is required with mysql.auth.existingSecret: name a Secret with the %s user's password (key `password`), the only one its pods mount" .component (index $users .component)) -}}
{{- end -}}
{{- $secret := $own | default (printf "%s-mysql-%s" (include "tidemark.fullname" .ctx) .component) -}}
{{- toJson (dict "user" (index $users .component) "key" (index $keys .component) "secret" $secret) -}}
{{- end -}}

{{/* A component's MySQL login for its env. Call with (dict "ctx" $ "component" "jobs|producer|migrate"). */}}
{{- define "tidemark.mysqlLoginEnv" -}}
{{- $account := include "tidemark.mysqlAccount" . | fromJson -}}
- {name: {{ ternary "TIDEMARK_MYSQL_MIGRATE_USER" "TIDEMARK_MYSQL_USER" (eq .component "migrate") }}, value: {{ $account.user | quote }}}
{{- end -}}

{{/* That account's password, from its Secret (as a file). */}}
{{- define "tidemark.mysqlLoginSecrets" -}}
{{- $account := include "tidemark.mysqlAccount" . | fromJson }}
{{ include "tidemark.secretSource" (dict "secret" $account.secret "key" "password" "variable" (ternary "TIDEMARK_MYSQL_MIGRATE_PASSWORD" "TIDEMARK_MYSQL_PASSWORD" (eq .component "migrate"))) }}
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

{{/* host:port the jobs push to: the release's Pushgateway, or `pushgateway.address` ("" = none). */}}
{{- define "tidemark.pushgateway" -}}
{{- if .Values.pushgateway.enabled -}}
{{- include "tidemark.fullname" . }}-pushgateway:9091
{{- else if .Values.pushgateway.address -}}
{{- if not (regexMatch ":[0-9]+$" .Values.pushgateway.address) -}}
{{- fail (printf "pushgateway.address must be host:port, not %q" .Values.pushgateway.address) -}}
{{- end -}}
{{- .Values.pushgateway.address -}}
{{- end -}}
{{- end -}}

{{/* The install's name in its metrics, the `release` label: what the jobs push it with
(TIDEMARK_RELEASE) and what the monitors add to what they scrape. */}}
{{- define "tidemark.release" -}}
{{ printf "%s/%s" .Release.Namespace .Release.Name }}
{{- end -}}

{{/* Env every job reads besides its ConfigMap: its logins, their secrets being files (jobSecrets). */}}
{{- define "tidemark.env" -}}
{{ include "tidemark.kafkaClientEnv" (dict "ctx" . "client" "jobs") }}
{{ include "tidemark.mysqlLoginEnv" (dict "ctx" . "component" "jobs") }}
{{- include "tidemark.mysqlTlsEnv" . }}
{{- include "tidemark.cassandraTlsEnv" . }}
{{- end -}}

{{/* Every job's secret settings: its Kafka, MySQL and Cassandra logins. */}}
{{- define "tidemark.jobSecrets" -}}
{{- include "tidemark.kafkaClientSecrets" (dict "ctx" . "client" "jobs") }}
{{- include "tidemark.mysqlLoginSecrets" (dict "ctx" . "component" "jobs") }}
{{- range $key := list "username" "password" }}
{{ include "tidemark.secretSource" (dict "secret" (include "tidemark.cassandraSecret" $) "key" $key "variable" (printf "TIDEMARK_CASSANDRA_%s" (upper $key))) }}
{{- end }}
{{- if include "tidemark.cassandraCaSecret" . }}
{{ include "tidemark.secretSource" (dict "secret" (include "tidemark.truststorePasswordSecret" (dict "ctx" . "external" (and .Values.cassandra.external.enabled .Values.cassandra.external.caSecret))) "key" "truststore-password" "variable" "TIDEMARK_CASSANDRA_TRUSTSTORE_PASSWORD") }}
{{- end }}
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

{{/* The Secrets the passwords hook makes (jobs/passwords.py), as JSON: no password is ever
rendered. `${password:NAME}` is one generated password, the same wherever it appears;
`sources` are Secrets of the user's own to read one from. */}}
{{- define "tidemark.passwordsPlan" -}}
{{- $fullname := include "tidemark.fullname" . -}}
{{- $secrets := list -}}
{{- $sources := list -}}
{{- $mysqlKeys := dict "root-password" "root" "app-password" "app" "producer-password" "producer" "migrate-password" "migrate" "debezium-password" "debezium" "grafana-password" "grafana" -}}
{{- if .Values.mysql.auth.existingSecret -}}
{{- range $key, $password := $mysqlKeys -}}
{{- $sources = append $sources (dict "password" $password "secret" $.Values.mysql.auth.existingSecret "key" $key) -}}
{{- end -}}
{{- else -}}
{{- $data := dict -}}
{{- range $key, $password := $mysqlKeys }}{{ $_ := set $data $key (printf "${password:%s}" $password) }}{{ end -}}
{{- $secrets = append $secrets (dict "name" (include "tidemark.mysqlSecret" .) "labels" (include "tidemark.labels" (dict "ctx" $ "component" "mysql") | fromYaml) "data" $data) -}}
{{- range $component := list "jobs" "producer" "migrate" -}}
{{- $account := include "tidemark.mysqlAccount" (dict "ctx" $ "component" $component) | fromJson -}}
{{- $secrets = append $secrets (dict "name" $account.secret "labels" (include "tidemark.labels" (dict "ctx" $ "component" $component) | fromYaml) "data" (dict "password" (printf "${password:%s}" (get $mysqlKeys $account.key)))) -}}
{{- end -}}
{{- if and (include "tidemark.ownConnect" .) (not .Values.kafkaConnect.connector.existingSecret) -}}
{{- $secrets = append $secrets (dict "name" (include "tidemark.debeziumSecret" .) "labels" (include "tidemark.labels" (dict "ctx" $ "component" "connect") | fromYaml) "data" (dict "password" "${password:debezium}")) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.cassandra.enabled (not .Values.cassandra.external.enabled) -}}
{{- $secrets = append $secrets (dict "name" (include "tidemark.cassandraSecret" .) "labels" (include "tidemark.labels" (dict "ctx" $ "component" "jobs") | fromYaml) "data" (dict "username" "tidemark" "password" "${password:cassandra}")) -}}
{{- end -}}
{{- if .Values.monitoring.dashboards.enabled -}}
{{- $labels := include "tidemark.labels" (dict "ctx" $ "component" "monitoring") | fromYaml -}}
{{- $_ := set $labels .Values.monitoring.dashboards.datasourceLabel "1" -}}
{{- $secrets = append $secrets (dict "name" (printf "%s-datasources" $fullname) "labels" $labels "data" (dict "tidemark-datasources.yaml" (include "tidemark.grafanaDatasources" .))) -}}
{{- end -}}
{{- if include "tidemark.authority" . -}}
{{- $secrets = append $secrets (dict "name" (include "tidemark.storesPasswordSecret" .) "labels" (include "tidemark.labels" (dict "ctx" $ "component" "tls") | fromYaml) "data" (dict "truststore-password" "${password:truststore}")) -}}
{{- end -}}
{{- range $secrets }}{{ $_ := set .labels "tidemark.io/passwords-of" $.Release.Name }}{{ end -}}
{{- $plan := dict "namespace" .Release.Namespace "secrets" $secrets "sources" $sources -}}
{{- with include "tidemark.authority" . -}}
{{- $labels := include "tidemark.labels" (dict "ctx" $ "component" "tls") | fromYaml -}}
{{- $_ := set $labels "tidemark.io/passwords-of" $.Release.Name -}}
{{- $_ := set $plan "authority" (dict "name" . "labels" $labels "commonName" (printf "%s CA" (include "tidemark.fullname" $))) -}}
{{- end -}}
{{- toJson $plan -}}
{{- end -}}

{{/* What names this install in a Grafana that several share: a suffix of its dashboards' uids
and its datasource's uid (Grafana allows 40 characters: the full name could not fit). */}}
{{- define "tidemark.grafanaSuffix" -}}
{{ sha256sum (include "tidemark.release" .) | trunc 10 }}
{{- end -}}

{{- define "tidemark.datasourceUid" -}}
tidemark-mysql-{{ include "tidemark.grafanaSuffix" . }}
{{- end -}}

{{/* The datasource's name: the business dashboard's `release` variable lists the datasources
named "tidemark " and something (observability/grafana.py). */}}
{{- define "tidemark.datasourceName" -}}
tidemark {{ include "tidemark.release" . }}
{{- end -}}

{{/* Grafana's MySQL datasource, as the read-only grafana user (its password filled in by the
passwords hook). */}}
{{- define "tidemark.grafanaDatasources" -}}
apiVersion: 1
datasources:
  - name: {{ include "tidemark.datasourceName" . | quote }}
    uid: {{ include "tidemark.datasourceUid" . }}
    type: mysql
    {{- if .Values.mysql.external.enabled }}
    url: {{ include "tidemark.mysqlHost" . }}:{{ include "tidemark.mysqlPort" . }}
    {{- else }}
    url: {{ include "tidemark.mysqlHost" . }}.{{ .Release.Namespace }}.svc:{{ include "tidemark.mysqlPort" . }}
    {{- end }}
    user: grafana
    jsonData:
      database: {{ .Values.mysql.database }}
      {{- if include "tidemark.ownMysqlTls" . }}
      # TLS, MySQL's certificate checked against the release's CA (the hook quotes it here).
      tlsAuthWithCACert: true
      serverName: {{ include "tidemark.mysqlHost" . }}.{{ .Release.Namespace }}.svc
      {{- end }}
    secureJsonData:
      password: "${password:grafana}"
      {{- if include "tidemark.ownMysqlTls" . }}
      tlsCACert: ${ca}
      {{- end }}
{{- end -}}

{{/* The passwords hook's annotations, at a weight: before anything that reads a Secret. */}}
{{- define "tidemark.passwordsHook" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: {{ . | quote }}
helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
{{- end -}}
