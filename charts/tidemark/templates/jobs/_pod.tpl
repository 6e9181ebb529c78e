{{/* The pod spec every job runs in: CronJobs, the migrate hook and continuous ingest.
Call with (dict "ctx" $ "job" "<name>" "restartPolicy" "Never"), and "continuous" true for the
continuous ingest. Its Spark mode (tidemark.sparkMode) decides where its executors run; where it
is not spark.mode, the pod's env overrides the shared ConfigMap's Spark settings. */}}
{{- define "tidemark.jobPod" -}}
{{- $ := .ctx -}}
{{- $fullname := include "tidemark.fullname" $ -}}
{{- $mode := include "tidemark.sparkMode" (dict "ctx" $ "continuous" .continuous) -}}
{{- $executorPods := eq $mode "kubernetes" -}}
serviceAccountName: {{ $fullname }}-spark
# A token only for a driver that makes executor pods through the API.
automountServiceAccountToken: {{ $executorPods }}
{{- with include "tidemark.podNetwork" $ }}
{{ . }}
{{- end }}
securityContext: {{- include "tidemark.podSecurityContext" (dict "uid" 10185) | nindent 2 }}
restartPolicy: {{ .restartPolicy }}
containers:
  - name: {{ .job }}
    image: {{ include "tidemark.image" (dict "ctx" $ "image" $.Values.jobs.image) }}
    imagePullPolicy: {{ $.Values.global.imagePullPolicy }}
    command: ["python", "-m", "jobs", {{ .job | quote }}{{ range .args }}, {{ . | quote }}{{ end }}]
    # Read-only root: Spark and its Python workers write to /tmp (spark.local.dir), the
    # streams' checkpoints to their volume.
    securityContext: {{- include "tidemark.containerSecurityContext" (dict "readOnly" true) | nindent 6 }}
    envFrom:
      - configMapRef: {name: {{ $fullname }}-jobs}
    env:
      {{- include "tidemark.env" $ | nindent 6 }}
      {{- if eq .job "migrate" }}
      # Only migrate runs DDL, as the accounts that own the tables (their secrets: below).
      {{- include "tidemark.mysqlLoginEnv" (dict "ctx" $ "component" "migrate") | nindent 6 }}
      {{- end }}
      {{- if .continuous }}
      - {name: TIDEMARK_INGEST_TRIGGER, value: continuous}
      - {name: TIDEMARK_INGEST_ALIVE_FILE, value: /tmp/tidemark/alive}
      {{- end }}
      {{- if ne $mode $.Values.spark.mode }}
      # This driver's Spark mode is not the shared ConfigMap's: `env` wins over `envFrom`.
      {{- range $name, $value := include "tidemark.sparkSettings" (dict "ctx" $ "mode" $mode) | fromYaml }}
      - {name: {{ $name }}, value: {{ $value | quote }}}
      {{- end }}
      {{- end }}
      {{- if $executorPods }}
      # Client mode: executors call the driver back at the pod's IP; on the host network, where
      # that is the node's address, at 127.0.0.1.
      - name: TIDEMARK_SPARK_DRIVER_HOST
      {{- if $.Values.hostNetwork }}
        value: 127.0.0.1
      {{- else }}
        valueFrom: {fieldRef: {fieldPath: status.podIP}}
      {{- end }}
      # Spark makes this pod the executors' owner: they go when it goes, however it ends.
      - name: TIDEMARK_SPARK_DRIVER_POD_NAME
        valueFrom: {fieldRef: {fieldPath: metadata.name}}
      {{- end }}
    {{- if .continuous }}
    ports:
      # Spark's UI, serving /metrics/prometheus for the PodMonitor.
      - {name: spark-ui, containerPort: 4040}
    # The driver touches its heartbeat while every query makes progress (jobs/alive.py): a
    # query hung in a batch lets it age past TIDEMARK_INGEST_STALL_SECONDS and the pod restarts.
    startupProbe:
      exec: {command: ["python", "-m", "jobs.alive"]}
      periodSeconds: 10
      timeoutSeconds: 10
      failureThreshold: 30
    livenessProbe:
      exec: {command: ["python", "-m", "jobs.alive"]}
      periodSeconds: 30
      timeoutSeconds: 10
      failureThreshold: 2
    # Ready while its queries make progress: what `helm --wait` and a rollout wait for.
    readinessProbe:
      exec: {command: ["python", "-m", "jobs.alive"]}
      periodSeconds: 10
      timeoutSeconds: 10
    {{- end }}
    resources: {{- toYaml (.resources | default $.Values.jobs.resources) | nindent 6 }}
    volumeMounts:
      - {name: checkpoints, mountPath: /var/lib/tidemark/checkpoints}
      - {name: tmp, mountPath: /tmp}
      {{- include "tidemark.caMount" $ | nindent 6 }}
      {{- include "tidemark.secretsMount" $ | nindent 6 }}
      {{- if $executorPods }}
      - {name: spark-pod-template, mountPath: /etc/tidemark/spark, readOnly: true}
      {{- end }}
volumes:
  - name: checkpoints
    persistentVolumeClaim: {claimName: {{ $fullname }}-checkpoints}
  - {name: tmp, emptyDir: {}}
  {{- include "tidemark.caVolume" $ | nindent 2 }}
  {{- $secrets := include "tidemark.jobSecrets" $ }}
  {{- if eq .job "migrate" }}
  {{- $secrets = print $secrets (include "tidemark.mysqlLoginSecrets" (dict "ctx" $ "component" "migrate")) }}
  {{- /* The Cassandra role that creates the keyspace, its tables and the jobs' role. */}}
  {{- range $key := list "username" "password" }}
  {{- $secrets = print $secrets "\n" (include "tidemark.secretSource" (dict "secret" (include "tidemark.cassandraAdminSecret" $) "key" $key "variable" (printf "TIDEMARK_CASSANDRA_ADMIN_%s" (upper $key)))) }}
  {{- end }}
  {{- end }}
  {{- include "tidemark.secretsVolume" $secrets | nindent 2 }}
  {{- if $executorPods }}
  - name: spark-pod-template
    configMap: {name: {{ $fullname }}-spark-pod-template}
  {{- end }}
{{- end -}}
