#!/usr/bin/env bash
# Bring up the k3d cluster of the cluster face (`make k3d-up`). Idempotent: every step checks
# or converges, so re-running after a failure or on a live cluster is safe and cheap.
#
#   1 cluster + registry   k3d/cluster.yaml
#   2 Knative Serving      serving-crds/core + Kourier, then k3d/manifests/10-*.yaml
#   3 Knative Eventing     eventing-crds/core + eventing-kafka-broker (controller, broker,
#                          source), then k3d/manifests/11-*.yaml
#   4 Kafka                Strimzi operator, k3d/manifests/20-*.yaml and 21-*.yaml
#   5 Secrets              generated once from random values, never written to the repo
#   6 Redis, MinIO, MLflow k3d/manifests/30-*.yaml, 40-*.yaml, 50-*.yaml
#   7 Observability        kube-prometheus-stack (helm) with k3d/helm/*.values.yaml
#   8 Logs                 Loki + Grafana Alloy, k3d/manifests/60-*.yaml and 61-*.yaml
#
# Versions: k3d/versions.env. Optional environment: SLACK_WEBHOOK_URL, SMTP_PASSWORD (the
# Alertmanager receivers; placeholders when unset), KUBECTL, HELM, K3D (binaries).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/versions.env
source "$HERE/versions.env"

K3D="${K3D:-k3d}"
HELM="${HELM:-helm}"
CONTEXT="k3d-${CLUSTER_NAME}"
KUBECTL=("${KUBECTL:-kubectl}" --context "$CONTEXT")
MANIFESTS="$HERE/manifests"
SECRETS_DIR="$(mktemp -d)"
chmod 700 "$SECRETS_DIR"
trap 'rm -rf "$SECRETS_DIR"' EXIT

SERVING_URL="https://github.com/knative/serving/releases/download/${KNATIVE_SERVING_VERSION}"
KOURIER_URL="https://github.com/knative-extensions/net-kourier/releases/download/${KNATIVE_KOURIER_VERSION}"
EVENTING_URL="https://github.com/knative/eventing/releases/download/${KNATIVE_EVENTING_VERSION}"
KAFKA_URL="https://github.com/knative-extensions/eventing-kafka-broker/releases/download/${KNATIVE_KAFKA_VERSION}"
STRIMZI_URL="https://github.com/strimzi/strimzi-kafka-operator/releases/download/${STRIMZI_VERSION}/strimzi-cluster-operator-${STRIMZI_VERSION}.yaml"

step() { printf '\n== %s\n' "$*"; }
die() { printf 'bootstrap: %s\n' "$*" >&2; exit 1; }

require() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "'$tool' not found on PATH (see k3d/README.md, Prerequisites)"
  done
}

# Server-side apply: idempotent, no size limit on huge CRDs, and a field manager of our own,
# so our keys in Knative's ConfigMaps do not erase the keys Knative owns.
apply() {
  "${KUBECTL[@]}" apply --server-side --force-conflicts --field-manager=coelho-bootstrap "$@"
}

wait_deployments() {
  local namespace="$1"
  "${KUBECTL[@]}" wait deployment --all -n "$namespace" --for=condition=Available --timeout=600s
}

random_secret() {
  if command -v openssl >/dev/null; then
    openssl rand -hex 24
  else
    python3 -c 'import secrets; print(secrets.token_hex(24))'
  fi
}

# Create Secret <namespace>/<name> from key=value pairs unless it exists: values are generated
# once and kept, so a re-run never rotates a password that Redis or MinIO already uses. The
# values go through files in a private temp dir, never through the command line.
ensure_secret() {
  local namespace="$1" name="$2"
  shift 2
  if "${KUBECTL[@]}" get secret "$name" -n "$namespace" >/dev/null 2>&1; then
    echo "secret $namespace/$name exists, kept"
    return
  fi
  local args=() pair key
  for pair in "$@"; do
    key="${pair%%=*}"
    printf '%s' "${pair#*=}" >"$SECRETS_DIR/$key"
    args+=("--from-file=$key=$SECRETS_DIR/$key")
  done
  "${KUBECTL[@]}" create secret generic "$name" -n "$namespace" "${args[@]}"
  rm -f "$SECRETS_DIR"/*
}

secret_value() {
  "${KUBECTL[@]}" get secret "$2" -n "$1" -o "jsonpath={.data.$3}" | base64 -d
}

step "prerequisites"
require docker "$K3D" "${KUBECTL[0]}" "$HELM" curl sed base64
have_k3d="$("$K3D" version 2>/dev/null | sed -n 's/^k3d version //p')"
[ "$have_k3d" = "$K3D_VERSION" ] || echo "warning: k3d $have_k3d found, tested with $K3D_VERSION"

step "1/8 cluster $CLUSTER_NAME and registry $REGISTRY_NAME:$REGISTRY_PORT"
if "$K3D" cluster get "$CLUSTER_NAME" >/dev/null 2>&1; then
  echo "cluster exists, starting it if stopped"
  "$K3D" cluster start "$CLUSTER_NAME"
else
  "$K3D" cluster create --config "$HERE/cluster.yaml"
fi
apply -f "$MANIFESTS/00-namespaces.yaml"

step "2/8 Knative Serving $KNATIVE_SERVING_VERSION + Kourier $KNATIVE_KOURIER_VERSION"
apply -f "$SERVING_URL/serving-crds.yaml"
"${KUBECTL[@]}" wait crd --all --for=condition=Established --timeout=120s
apply -f "$SERVING_URL/serving-core.yaml"
apply -f "$KOURIER_URL/kourier.yaml"
wait_deployments knative-serving
wait_deployments kourier-system
apply -f "$MANIFESTS/10-knative-serving-config.yaml"

step "3/8 Knative Eventing $KNATIVE_EVENTING_VERSION + Kafka broker/source $KNATIVE_KAFKA_VERSION"
apply -f "$EVENTING_URL/eventing-crds.yaml"
"${KUBECTL[@]}" wait crd --all --for=condition=Established --timeout=120s
apply -f "$EVENTING_URL/eventing-core.yaml"
apply -f "$KAFKA_URL/eventing-kafka-controller.yaml"
apply -f "$KAFKA_URL/eventing-kafka-broker.yaml"
apply -f "$KAFKA_URL/eventing-kafka-source.yaml"
wait_deployments knative-eventing
# After the broker release, which ships its own kafka-broker-config (replication factor 3).
apply -f "$MANIFESTS/11-knative-eventing-config.yaml"

step "4/8 Strimzi $STRIMZI_VERSION and Kafka cluster coelho (KRaft, one node)"
# The release manifest binds its RBAC to the placeholder namespace "myproject": rebind it to
# kafka (only exact `namespace: myproject` lines, never text inside CRD descriptions).
curl -fsSL "$STRIMZI_URL" \
  | sed -E 's/^([[:space:]]*)namespace: myproject[[:space:]]*$/\1namespace: kafka/' \
  | apply -n kafka -f -
"${KUBECTL[@]}" wait crd kafkas.kafka.strimzi.io kafkanodepools.kafka.strimzi.io \
  kafkatopics.kafka.strimzi.io --for=condition=Established --timeout=120s
wait_deployments kafka
apply -f "$MANIFESTS/20-kafka.yaml"
apply -f "$MANIFESTS/21-kafka-topics.yaml"
"${KUBECTL[@]}" wait kafkas.kafka.strimzi.io/coelho -n kafka --for=condition=Ready --timeout=900s

step "5/8 secrets (generated once; never in git)"
ensure_secret coelho redis-auth "password=$(random_secret)"
redis_password="$(secret_value coelho redis-auth password)"
ensure_secret coelho coelho-runtime \
  "COELHO_REDIS_URL=redis://:${redis_password}@redis.coelho.svc.cluster.local:6379/0" \
  "COELHO_STATE_KEY=$(random_secret)"
ensure_secret coelho minio-auth \
  "AWS_ACCESS_KEY_ID=coelho-$(random_secret | cut -c1-8)" \
  "AWS_SECRET_ACCESS_KEY=$(random_secret)"
ensure_secret observability grafana-admin "admin-user=admin" "admin-password=$(random_secret)"
if [ -n "${SLACK_WEBHOOK_URL:-}${SMTP_PASSWORD:-}" ]; then
  # Real receivers given: replace the placeholders.
  "${KUBECTL[@]}" delete secret alertmanager-receivers -n observability --ignore-not-found
fi
ensure_secret observability alertmanager-receivers \
  "slack-webhook-url=${SLACK_WEBHOOK_URL:-https://hooks.slack.com/services/PLACEHOLDER}" \
  "smtp-password=${SMTP_PASSWORD:-$(random_secret)}"
unset redis_password

step "6/8 Redis, MinIO, MLflow"
apply -f "$MANIFESTS/30-redis.yaml"
apply -f "$MANIFESTS/40-minio.yaml"
apply -f "$MANIFESTS/50-mlflow.yaml"
"${KUBECTL[@]}" rollout status deployment/redis -n coelho --timeout=300s
"${KUBECTL[@]}" rollout status deployment/minio -n coelho --timeout=300s
"${KUBECTL[@]}" wait job/minio-buckets -n coelho --for=condition=Complete --timeout=300s \
  || echo "note: job minio-buckets already finished and was cleaned up"
"${KUBECTL[@]}" rollout status deployment/mlflow -n coelho --timeout=600s

step "7/8 kube-prometheus-stack $KUBE_PROMETHEUS_STACK_VERSION"
"$HELM" repo add prometheus-community https://prometheus-community.github.io/helm-charts \
  --force-update >/dev/null
"$HELM" upgrade --install kps prometheus-community/kube-prometheus-stack \
  --kube-context "$CONTEXT" --namespace observability \
  --version "$KUBE_PROMETHEUS_STACK_VERSION" \
  --values "$HERE/helm/kube-prometheus-stack.values.yaml" \
  --wait --timeout 15m

step "8/8 Loki and Grafana Alloy (logs; images pinned in the manifests)"
apply -f "$MANIFESTS/60-loki.yaml"
apply -f "$MANIFESTS/61-alloy.yaml"
"${KUBECTL[@]}" rollout status deployment/loki -n observability --timeout=300s
"${KUBECTL[@]}" rollout status deployment/alloy -n observability --timeout=300s

step "done"
cat <<EOF
Cluster $CONTEXT is ready. Next: \`make deploy\` (builds, pushes and applies the functions).
  public URLs   http://<service>.coelho.127.0.0.1.sslip.io  (predict-*, dash)
  Grafana       kubectl --context $CONTEXT -n observability port-forward svc/kps-grafana 3000:80
  Prometheus    kubectl --context $CONTEXT -n observability port-forward svc/kps-prometheus 9090
  MLflow        kubectl --context $CONTEXT -n coelho port-forward svc/mlflow 5000
EOF
