{{/* The pod spec every job runs in: CronJobs, the migrate hook and continuous ingest.
Call with (dict "ctx" $ "job" "<name>" "restartPolicy" "Never"). */}}
{{- define "tidemark.jobPod" -}}
{{- $ := .ctx -}}
{{- $fullname := include "tidemark.fullname" $ -}}
serviceAccountName: {{ $fullname }}-spark
securityContext: {{- include "tidemark.podSecurityContext" (dict "uid" 185) | nindent 2 }}
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
      # Only migrate runs DDL, as the accounts that own the tables.
      {{- include "tidemark.mysqlLoginEnv" (dict "ctx" $ "component" "migrate") | nindent 6 }}
      {{- if $.Values.cassandra.external.enabled }}
      # Your Cassandra's admin made the jobs' role: migrate logs in as it and creates no role.
      - {name: TIDEMARK_CASSANDRA_ADMIN_USERNAME, value: ""}
      {{- else }}
      - name: TIDEMARK_CASSANDRA_ADMIN_USERNAME
        valueFrom: {secretKeyRef: {name: {{ include "tidemark.cassandraSuperuserSecret" $ }}, key: username}}
      - name: TIDEMARK_CASSANDRA_ADMIN_PASSWORD
        valueFrom: {secretKeyRef: {name: {{ include "tidemark.cassandraSuperuserSecret" $ }}, key: password}}
      {{- end }}
      {{- end }}
      {{- if .continuous }}
      - {name: TIDEMARK_INGEST_TRIGGER, value: continuous}
      - {name: TIDEMARK_INGEST_ALIVE_FILE, value: /tmp/tidemark/alive}
      {{- end }}
      {{- if eq $.Values.spark.mode "kubernetes" }}
      # Client mode: executors call back to the driver at this pod's IP.
      - name: TIDEMARK_SPARK_DRIVER_HOST
        valueFrom: {fieldRef: {fieldPath: status.podIP}}
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
    {{- end }}
    resources: {{- toYaml (.resources | default $.Values.jobs.resources) | nindent 6 }}
    volumeMounts:
      - {name: checkpoints, mountPath: /var/lib/tidemark/checkpoints}
      - {name: tmp, mountPath: /tmp}
      {{- if eq $.Values.spark.mode "kubernetes" }}
      - {name: spark-pod-template, mountPath: /etc/tidemark/spark, readOnly: true}
      {{- end }}
volumes:
  - name: checkpoints
    persistentVolumeClaim: {claimName: {{ $fullname }}-checkpoints}
  - {name: tmp, emptyDir: {}}
  {{- if eq $.Values.spark.mode "kubernetes" }}
  - name: spark-pod-template
    configMap: {name: {{ $fullname }}-spark-pod-template}
  {{- end }}
{{- end -}}
