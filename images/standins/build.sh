#!/usr/bin/env bash
# Stand-ins for the upstream base images, for machines that cannot pull them (no registry).
# Each is tagged with the upstream name and laid out like the upstream image where our
# Dockerfiles depend on it, so those Dockerfiles build unchanged. Built from a Debian
# bookworm rootfs (debootstrap, cached), apt, the project's venv and the Maven cache.
# An image that already exists is left alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="${HOME}/.cache/tidemark/images"
PYTHON_BASE=docker.io/library/python:3.11-slim-bookworm
SPARK_BASE=docker.io/apache/spark:3.5.9-scala2.12-java17-python3-ubuntu
STRIMZI_BASE=quay.io/strimzi/kafka:1.2.0-kafka-4.3.1
site="$("$root/.venv/bin/python" -c 'import pyspark, os; print(os.path.dirname(os.path.dirname(pyspark.__file__)))')"

# Bumped when a stand-in's recipe changes (2: Spark's executor mode; 3: upstream's PATH, sbin
# included), so an older one is rebuilt.
REVISION=3
current() {
  [ "$(buildah inspect --type image --format '{{index .OCIv1.Config.Labels "tidemark.standin.revision"}}' \
    "$1" 2>/dev/null)" = "$REVISION" ]
}
in_container() { local c=$1; shift; buildah run --isolation chroot --network host "$c" -- "$@"; }

rootfs() {
  local tar="$cache/bookworm-minbase.tar"
  if [ ! -f "$tar" ]; then
    local dir; dir="$(mktemp -d)"
    echo "standins: debootstrap bookworm (once, cached in $tar)" >&2
    debootstrap --variant=minbase --include=ca-certificates bookworm "$dir" http://deb.debian.org/debian >/dev/null
    # Trust what this machine trusts (a proxy's CA, say), so pip and apt work in the build as
    # they do on the host. Only the stand-ins get this; the real bases need nothing.
    if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
      cp /usr/local/share/ca-certificates/*.crt "$dir/usr/local/share/ca-certificates/"
      chroot "$dir" update-ca-certificates >/dev/null
    fi
    mkdir -p "$cache" && tar -C "$dir" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar" && rm -rf "$dir"
  fi
  echo "$tar"
}

apt_install() {  # container, packages...
  local c=$1; shift
  in_container "$c" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends $* >/dev/null && rm -rf /var/lib/apt/lists/*"
}

python_base() {
  current "$PYTHON_BASE" && return
  local c; c=$(buildah from scratch)
  buildah add "$c" "$(rootfs)" / >/dev/null
  apt_install "$c" python3 python3-pip python3-venv python3-setuptools
  # Upstream's Python lives in /usr/local and pip may install into it.
  in_container "$c" sh -c 'rm -f /usr/lib/python3*/EXTERNALLY-MANAGED &&
    ln -sf /usr/bin/python3 /usr/local/bin/python && ln -sf /usr/bin/pip3 /usr/local/bin/pip'
  buildah config --env LANG=C.UTF-8 --cmd python3 --label tidemark.standin.revision=$REVISION "$c"
  buildah commit -q --rm "$c" "$PYTHON_BASE" >/dev/null
  echo "standins: built $PYTHON_BASE"
}

spark_base() {
  current "$SPARK_BASE" && return
  local c; c=$(buildah from "$PYTHON_BASE")
  apt_install "$c" openjdk-17-jre-headless procps
  # Spark as the upstream image lays it out: /opt/spark/{bin,jars,python}, from PySpark's
  # own distribution (same Spark version).
  local work; work="$(mktemp -d)"
  mkdir -p "$work/spark/python/lib"
  cp -r "$site/pyspark/jars" "$site/pyspark/bin" "$work/spark/"
  tar -C "$site" --exclude='pyspark/jars' --exclude='__pycache__' -cf - pyspark | tar -C "$work/spark/python" -xf -
  (cd "$site" && "$root/.venv/bin/python" -c "
import shutil, py4j, sys
shutil.make_archive(sys.argv[1], 'zip', '.', 'py4j')" "$work/spark/python/lib/py4j-$("$root/.venv/bin/python" -c 'import py4j.version as v; print(v.__version__)')-src")
  cat > "$work/entrypoint.sh" <<'SH'
#!/bin/bash
# Stand-in for Spark's image entrypoint. `executor`: a Kubernetes executor, started from what
# the driver put in the Pod's environment. `driver` (cluster mode) is not provided: tidemark's
# drivers run in client mode inside their own Pods. Anything else runs as given.
set -eo pipefail
case "$1" in
  executor)
    # The driver hands the executor's JVM options over as SPARK_JAVA_OPT_0, _1, ... in order.
    opts=()
    while IFS= read -r name; do opts+=("${!name}"); done \
      < <(compgen -e | grep '^SPARK_JAVA_OPT_' | sort -t_ -k4 -n)
    exec "$JAVA_HOME/bin/java" "${opts[@]}" -Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" \
      -cp "${SPARK_CLASSPATH:+$SPARK_CLASSPATH:}$SPARK_HOME/jars/*" \
      org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" \
      --cores "$SPARK_EXECUTOR_CORES" --app-id "$SPARK_APPLICATION_ID" \
      --hostname "$SPARK_EXECUTOR_POD_IP" --resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" \
      --podName "$SPARK_EXECUTOR_POD_NAME" ;;
  driver) echo "stand-in image: Spark's cluster-mode driver is not provided" >&2; exit 64 ;;
  *) exec "$@" ;;
esac
SH
  chmod +x "$work/entrypoint.sh"
  buildah copy "$c" "$work/spark" /opt/spark >/dev/null
  buildah copy "$c" "$work/entrypoint.sh" /opt/entrypoint.sh >/dev/null
  rm -rf "$work"
  in_container "$c" sh -c 'useradd --uid 185 --home-dir /opt/spark --no-create-home spark &&
    mkdir -p /opt/spark/work-dir && chown spark /opt/spark/work-dir'
  buildah config --env SPARK_HOME=/opt/spark --env JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 \
    --env "PATH=/opt/spark/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --workingdir /opt/spark/work-dir \
    --user 185 --entrypoint '["/opt/entrypoint.sh"]' --cmd '' --label tidemark.standin.revision=$REVISION "$c"
  buildah commit -q --rm "$c" "$SPARK_BASE" >/dev/null
  echo "standins: built $SPARK_BASE"
}

strimzi_base() {
  current "$STRIMZI_BASE" && return
  local c; c=$(buildah from scratch)
  buildah add "$c" "$(rootfs)" / >/dev/null
  apt_install "$c" openjdk-17-jre-headless
  # Kafka as Strimzi lays it out: /opt/kafka/libs, plugins in /opt/kafka/plugins, user 1001.
  local libs; libs="$("$root/.venv/bin/python" -c 'import sys; sys.path.insert(0, "'"$root"'"); from local import stack; print(stack.jars("kafka"))')"
  buildah copy "$c" "$libs" /opt/kafka/libs >/dev/null
  in_container "$c" sh -c 'rm -f /opt/kafka/libs/.complete && mkdir -p /opt/kafka/plugins &&
    useradd --uid 1001 --home-dir /opt/kafka --no-create-home kafka'
  buildah config --env KAFKA_HOME=/opt/kafka --workingdir /opt/kafka --user 1001 \
    --label tidemark.standin.revision=$REVISION "$c"
  buildah commit -q --rm "$c" "$STRIMZI_BASE" >/dev/null
  echo "standins: built $STRIMZI_BASE"
}

python_base
spark_base
strimzi_base
