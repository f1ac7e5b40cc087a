# Cluster-face targets, included by the top-level Makefile (`-include k3d/targets.mk`).
# Full walkthrough: k3d/README.md.
#   make k3d-up        create the k3d cluster and install the platform (k3d/bootstrap.sh)
#   make deploy        build + push the function images, apply knative/ and eventing/
#   make k3d-down      delete the cluster and its registry
#   make vendor        copy the shared package into every functions/<name>/vendor/
#   make k3d-render    render what `make deploy` would apply, into build/k3d/rendered.yaml
#   make cluster-test  offline validation of every manifest (pytest -m cluster)
#   make k3d-produce   synthetic events into the k3d Kafka (DOMAIN=tfd COUNT=1000)
include k3d/versions.env

.PHONY: k3d-up k3d-down deploy vendor k3d-render cluster-test k3d-produce

k3d-up:
	bash k3d/bootstrap.sh

k3d-down:
	k3d cluster delete $(CLUSTER_NAME)

deploy: venv
	$(BIN)/python k3d/deploy.py

vendor: venv
	$(BIN)/python k3d/vendor.py

k3d-render: venv
	$(BIN)/python k3d/deploy.py --dry-run --out build/k3d/rendered.yaml

cluster-test: venv admission
	$(BIN)/pytest -m cluster tests/cluster

# make k3d-produce DOMAIN=tfd COUNT=1000 [PRODUCE_ARGS="--fraud-probability 0.05"]: synthetic
# events into the k3d Kafka, through the console producer of the broker pod (the cluster's
# Kafka has no listener outside it). The producer Deployments stream on their own; this adds
# a burst at once.
DOMAIN ?= tfd
COUNT ?= 1000
PRODUCE_ARGS ?=
k3d-produce: venv
	$(BIN)/python k3d/produce.py $(DOMAIN) --count $(COUNT) $(PRODUCE_ARGS) \
	  | kubectl --context k3d-$(CLUSTER_NAME) exec -i -n kafka coelho-dual-role-0 -- \
	    /opt/kafka/bin/kafka-console-producer.sh --bootstrap-server localhost:9092 \
	    --topic "$$($(BIN)/python k3d/produce.py $(DOMAIN) --topic)" \
	    --property parse.key=true --property "key.separator=	"
