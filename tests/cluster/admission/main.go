// Command admission runs Knative 1.23's own admission code on the project's manifests,
// offline: every object is decoded, defaulted and validated by the packages the Serving and
// Eventing webhooks are built from, with the configuration those webhooks would load on the
// k3d cluster, and every func.yaml is loaded and validated as `func deploy` does.
//
// Usage:
//
//	admission -release DIR... -config FILE... [-json] PATH...
//
// A PATH is a folder with a kustomization.yaml (rendered with `kubectl kustomize`, as
// tests/cluster does), another folder (its *.yaml files), a func.yaml, or a YAML file.
// Each object gets one line: OK, FAIL with Knative's error, or SKIP with the reason;
// warnings follow their object and are counted. The exit status is 1 if anything failed.
// What each check mirrors, and what it cannot run offline: README.md in this folder.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

var quietLogger = zap.NewNop().Sugar()

// notServed are kinds whose webhook lives in a module the Go module proxy does not serve:
// their objects stay covered by the CRD JSON schemas only.
var notServed = map[schema.GroupKind]string{
	{Group: "sources.knative.dev", Kind: "KafkaSource"}:    "knative.dev/eventing-kafka-broker",
	{Group: "eventing.knative.dev", Kind: "KafkaSink"}:     "knative.dev/eventing-kafka-broker",
	{Group: "messaging.knative.dev", Kind: "KafkaChannel"}: "knative.dev/eventing-kafka-broker",
}

// needsAPIServer are kinds whose validation is a call to the Kubernetes API server.
var needsAPIServer = map[schema.GroupKind]string{
	{Group: "sinks.knative.dev", Kind: "JobSink"}: "JobSink's validation is a server-side dry-run create of its Job",
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	var release, project multiFlag
	flag.Var(&release, "release", "folder of a release's default ConfigMaps (repeatable)")
	flag.Var(&project, "config", "the project's ConfigMaps applied over the release's (repeatable)")
	asJSON := flag.Bool("json", false, "one JSON object per line instead of text")
	flag.Parse()
	if len(release) == 0 || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}

	cms, projectConfigs, err := loadConfigs(release, project)
	if err != nil {
		fmt.Fprintln(os.Stderr, "admission:", err)
		os.Exit(2)
	}
	webhooks := []webhook{servingWebhook(cms), eventingWebhook(cms)}

	var results []result
	for _, o := range projectConfigs {
		results = append(results, cms.checkConfigMap(o))
	}
	for _, path := range flag.Args() {
		results = append(results, checkPath(path, webhooks)...)
	}
	tally := report(os.Stdout, results, *asJSON)
	if tally["FAIL"] > 0 {
		os.Exit(1)
	}
}

// checkPath expands one command-line PATH into the results of its objects.
func checkPath(path string, webhooks []webhook) []result {
	info, err := os.Stat(path)
	if err != nil {
		return []result{{Status: "FAIL", Origin: path, Message: err.Error()}}
	}
	if filepath.Base(path) == "func.yaml" {
		return []result{checkFunction(path)}
	}
	var objs []object
	switch {
	case !info.IsDir():
		objs, err = readFile(path)
	case exists(filepath.Join(path, "kustomization.yaml")):
		objs, err = kustomize(path)
	default:
		var files []string
		files, err = filepath.Glob(filepath.Join(path, "*.yaml"))
		for _, file := range files {
			found, ferr := readFile(file)
			objs, err = append(objs, found...), errors.Join(err, ferr)
		}
	}
	if err != nil {
		return []result{{Status: "FAIL", Origin: path, Message: err.Error()}}
	}
	results := make([]result, 0, len(objs))
	for _, o := range objs {
		results = append(results, checkObject(o, webhooks))
	}
	return results
}

// checkObject sends one object to the webhook that owns its kind.
func checkObject(o object, webhooks []webhook) result {
	r := o.result()
	gvk := schema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
	if o.APIVersion == "" || o.Kind == "" {
		return r.skip("not a Kubernetes object (no apiVersion or kind)")
	}
	if module, ok := notServed[gvk.GroupKind()]; ok {
		return r.skip(fmt.Sprintf("not checked by admission: its webhook is in %s, which the Go module proxy does not serve; covered by the JSON schema", module))
	}
	if why, ok := needsAPIServer[gvk.GroupKind()]; ok {
		return r.skip(fmt.Sprintf("not checked by admission: %s (needs an API server); covered by the JSON schema", why))
	}
	for _, w := range webhooks {
		if _, ok := w.types[gvk]; ok {
			warnings, err := w.admit(o.raw, gvk)
			r.Warnings = warnings
			if err != nil {
				return r.fail(err)
			}
			return r.ok()
		}
	}
	return r.skip(fmt.Sprintf("no Knative webhook owns %s %s", o.APIVersion, o.Kind))
}

// object is one YAML document, as JSON (what the API server sends a webhook).
type object struct {
	origin     string
	raw        []byte
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

func (o object) key() types.NamespacedName {
	return types.NamespacedName{Namespace: o.Metadata.Namespace, Name: o.Metadata.Name}
}

func (o object) result() result {
	name := o.Metadata.Name
	if o.Metadata.Namespace != "" {
		name = o.Metadata.Namespace + "/" + name
	}
	return result{Origin: o.origin, Kind: o.Kind, Name: name}
}

func (o object) configMap() (*corev1.ConfigMap, bool) {
	if o.APIVersion != "v1" || o.Kind != "ConfigMap" {
		return nil, false
	}
	cm := &corev1.ConfigMap{}
	return cm, json.Unmarshal(o.raw, cm) == nil
}

func readFile(path string) ([]object, error) {
	content, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseDocuments(content, path)
}

func kustomize(dir string) ([]object, error) {
	out, err := exec.Command("kubectl", "kustomize", dir).Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil, fmt.Errorf("kubectl kustomize %s: %s", dir, exit.Stderr)
	} else if err != nil {
		return nil, fmt.Errorf("kubectl kustomize %s: %w", dir, err)
	}
	return parseDocuments(out, "kubectl kustomize "+dir)
}

func parseDocuments(content []byte, origin string) ([]object, error) {
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(content)))
	var objs []object
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs, nil
		} else if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		raw, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", origin, err)
		}
		if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		o := object{origin: origin, raw: raw}
		if raw[0] == '{' {
			if err := json.Unmarshal(raw, &o); err != nil {
				return nil, fmt.Errorf("%s: %w", origin, err)
			}
		}
		objs = append(objs, o)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
