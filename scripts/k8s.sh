#!/usr/bin/env bash
# The kind workflow behind `make cluster|operators|deploy|trigger|logs|down`. The kind steps
# keep their kubeconfig inside the repo (k8s-tests/.kube/config); every step is idempotent.
# `trigger` and `logs` act on the cluster KUBECONFIG names when it is set (the local node's
# after `eval "$(make -s node-env)"`), on the kind cluster otherwise.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/bin"
export PATH="$bin:$PATH"
kind_kubeconfig="$root/k8s-tests/.kube/config"
export KUBECONFIG="${KUBECONFIG:-$kind_kubeconfig}"
CLUSTER=tidemark
NAMESPACE=${NAMESPACE:-tidemark}
RELEASE=${RELEASE:-tidemark}
KIND_VERSION=v0.33.0
CERT_MANAGER_VERSION=v1.19.1
STRIMZI_VERSION=1.2.0
K8SSANDRA_VERSION=1.32.5
KUBE_PROMETHEUS_STACK_VERSION=88.2.0

need_docker() {
  command -v docker >/dev/null && docker info >/dev/null 2>&1 ||
    { echo "k8s: Docker is not running here: kind needs a Docker engine" >&2; exit 2; }
}

kind_bin() {
  # Capture, then match: `kind version | grep -q` can kill kind with SIGPIPE under pipefail.
  local version; version="$("$bin/kind" version 2>/dev/null || true)"
  if [[ "$version" != *"$KIND_VERSION"* ]]; then
    GOBIN="$bin" go install "sigs.k8s.io/kind@$KIND_VERSION"
  fi
}

cluster() {
  export KUBECONFIG="$kind_kubeconfig"
  need_docker; kind_bin
  local clusters; clusters="$(kind get clusters 2>/dev/null || true)"
  if grep -qx "$CLUSTER" <<<"$clusters"; then
    kind export kubeconfig --name "$CLUSTER" --kubeconfig "$KUBECONFIG" >/dev/null
    echo "cluster $CLUSTER exists"; return
  fi
  mkdir -p "$(dirname "$KUBECONFIG")"
  kind create cluster --config "$root/deploy/kind.yaml" --kubeconfig "$KUBECONFIG" --wait 120s
}

operators() {
  export KUBECONFIG="$kind_kubeconfig"
  helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io \
    --version "$CERT_MANAGER_VERSION" -n cert-manager --create-namespace --set crds.enabled=true --wait
  helm upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
    --version "$STRIMZI_VERSION" -n strimzi --create-namespace -f "$root/deploy/operators/strimzi.yaml" --wait
  helm upgrade --install k8ssandra-operator k8ssandra-operator --repo https://helm.k8ssandra.io/stable \
    --version "$K8SSANDRA_VERSION" -n k8ssandra-operator --create-namespace \
    -f "$root/deploy/operators/k8ssandra-operator.yaml" --wait
  helm upgrade --install kube-prometheus-stack kube-prometheus-stack \
    --repo https://prometheus-community.github.io/helm-charts --version "$KUBE_PROMETHEUS_STACK_VERSION" \
    -n monitoring --create-namespace -f "$root/deploy/operators/kube-prometheus-stack.yaml" \
    --set-string grafana.sidecar.dashboards.searchNamespace="$NAMESPACE" \
    --set-string grafana.sidecar.datasources.searchNamespace="$NAMESPACE" --wait
}

load_images() {
  export KUBECONFIG="$kind_kubeconfig"
  need_docker; kind_bin
  for image in $("$root/scripts/images.sh" names); do kind load docker-image --name "$CLUSTER" "$image"; done
}

deploy() {
  export KUBECONFIG="$kind_kubeconfig"
  # No --wait: it would hold the post-install migrate hook until every Pod is Ready, and the
  # producers and ingest wait for migrate's tables. Helm waits for its hooks in any case.
  helm upgrade --install "$RELEASE" "$root/charts/tidemark" -n "$NAMESPACE" --create-namespace \
    --timeout 20m "$@"
  local d; for d in $(kubectl -n "$NAMESPACE" get deployments -o name); do
    kubectl -n "$NAMESPACE" rollout status "$d" --timeout 20m
  done
}

trigger() {
  local job=${1:?JOB= is required (ingest, aggregate, dims)}
  local name="$job-manual-$(date +%s)"
  kubectl -n "$NAMESPACE" create job --from="cronjob/$RELEASE-$job" "$name"
  kubectl -n "$NAMESPACE" wait --for=condition=complete --timeout=20m "job/$name"
}

logs() {
  local job=${1:?JOB= is required}
  # Each started Pod of the component, oldest first. A Pod still creating its container (a
  # CronJob's next run, say) has no log yet, and `kubectl logs -l` would fail on it outright.
  local pods pod
  pods=$(kubectl -n "$NAMESPACE" get pods -l "app.kubernetes.io/component=$job" \
    --field-selector=status.phase!=Pending --sort-by=.metadata.creationTimestamp -o name)
  [ -n "$pods" ] || { echo "no started Pod of $job in namespace $NAMESPACE" >&2; return 1; }
  for pod in $pods; do
    echo "==> $pod"
    # A Pod may go (a CronJob prunes its history) between the listing and its log.
    kubectl -n "$NAMESPACE" logs --tail=200 --all-containers "$pod" || echo "($pod is gone)" >&2
  done
}

down() {
  export KUBECONFIG="$kind_kubeconfig"
  kind_bin
  kind delete cluster --name "$CLUSTER"
}

"$@"
