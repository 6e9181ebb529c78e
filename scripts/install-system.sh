#!/usr/bin/env bash
# The Debian packages the local stack runs on (MariaDB, Prometheus, Pushgateway) and the
# JDK/Maven that fetch and run the Java servers, and buildah + debootstrap for the images
# where no Docker engine runs; containerd, runc and the CNI plugins for the node tier's
# kubelet (local/node.py); openssl for the stack's own CA (local/tls.py). Installs only what is
# missing.
set -euo pipefail
need=()
command -v mariadbd >/dev/null || need+=(mariadb-server mariadb-client)
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v prometheus-pushgateway >/dev/null || need+=(prometheus-pushgateway)
command -v java >/dev/null || need+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need+=(maven)
command -v unzip >/dev/null || need+=(unzip)
command -v buildah >/dev/null || need+=(buildah)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/loopback ] || need+=(containernetworking-plugins)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v openssl >/dev/null || need+=(openssl)
[ ${#need[@]} -eq 0 ] && exit 0
sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "install-system: apt-get install ${need[*]}"
$sudo apt-get update -qq
# Debian may start the packaged services; harmless: the stack runs its own on other ports.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
