#!/bin/bash
# The jobs image's entrypoint, in front of Spark's own (/opt/entrypoint.sh). An executor Pod on
# a single node's host network (the chart's `hostNetwork` value) is given its address in
# TIDEMARK_EXECUTOR_HOST: Spark would otherwise announce the Pod's IP, which there is the node's
# own address. Everything else reaches Spark's entrypoint unchanged.
set -e
if [ "$1" = executor ] && [ -n "${TIDEMARK_EXECUTOR_HOST:-}" ]; then
  export SPARK_EXECUTOR_POD_IP="$TIDEMARK_EXECUTOR_HOST" SPARK_LOCAL_IP="$TIDEMARK_EXECUTOR_HOST"
fi
exec /opt/entrypoint.sh "$@"
