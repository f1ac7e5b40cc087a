package main

import (
	"context"
	"fmt"
	"log"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"knative.dev/pkg/configmap"
	"knative.dev/pkg/leaderelection"
	"knative.dev/pkg/logging"

	netcfg "knative.dev/networking/pkg/config"
	servingconfig "knative.dev/serving/pkg/apis/config"
	autoscalerconfig "knative.dev/serving/pkg/autoscaler/config"
	"knative.dev/serving/pkg/deployment"
	"knative.dev/serving/pkg/gc"
	servingo11y "knative.dev/serving/pkg/observability/configmap"
	certconfig "knative.dev/serving/pkg/reconciler/certificate/config"
	domainconfig "knative.dev/serving/pkg/reconciler/route/config"

	"knative.dev/eventing/pkg/apis/sugar"
	eventingo11y "knative.dev/eventing/pkg/observability/configmap"
)

// configs are Knative's ConfigMaps as k3d/bootstrap.sh leaves them: each default ConfigMap
// of the release, with the project's keys applied on top. The bootstrap applies the
// project's files with server-side apply and a field manager of its own, so the keys it
// sets win and every other key of the release stays.
type configs map[types.NamespacedName]*corev1.ConfigMap

// loadConfigs reads the release's ConfigMaps from the given folders (config/core/configmaps
// of the Serving and Eventing modules), then merges the project's ConfigMaps into them.
func loadConfigs(releaseDirs, projectFiles []string) (configs, []object, error) {
	cms := configs{}
	for _, dir := range releaseDirs {
		files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
		if err != nil || len(files) == 0 {
			return nil, nil, fmt.Errorf("-release %s: no YAML files", dir)
		}
		for _, file := range files {
			objs, err := readFile(file)
			if err != nil {
				return nil, nil, err
			}
			for _, o := range objs {
				if cm, ok := o.configMap(); ok {
					cms[o.key()] = cm
				}
			}
		}
	}
	var project []object
	for _, file := range projectFiles {
		objs, err := readFile(file)
		if err != nil {
			return nil, nil, err
		}
		for _, o := range objs {
			cm, ok := o.configMap()
			if !ok {
				return nil, nil, fmt.Errorf("%s: %s %s is not a ConfigMap", file, o.Kind, o.key())
			}
			if existing, found := cms[o.key()]; found {
				merged := existing.DeepCopy()
				if merged.Data == nil {
					merged.Data = map[string]string{}
				}
				for k, v := range cm.Data {
					merged.Data[k] = v
				}
				cm = merged
			}
			cms[o.key()] = cm
			project = append(project, o)
		}
	}
	return cms, project, nil
}

// watcher hands a config store the ConfigMaps of one namespace, once, the way a webhook's
// informer-backed watcher does at start-up.
type watcher struct {
	cms       configs
	namespace string
}

func (c configs) watcher(namespace string) configmap.Watcher {
	return &watcher{cms: c, namespace: namespace}
}

func (w *watcher) Watch(name string, observers ...configmap.Observer) {
	cm, ok := w.cms[types.NamespacedName{Namespace: w.namespace, Name: name}]
	if !ok {
		// A webhook never starts without the ConfigMaps its stores watch.
		log.Fatalf("ConfigMap %s/%s is watched by a webhook but is not in the release ConfigMaps (-release)", w.namespace, name)
	}
	for _, observe := range observers {
		observe(cm)
	}
}

func (w *watcher) Start(<-chan struct{}) error { return nil }

// configValidators mirror the constructors each webhook's ConfigMap validation controller
// (config.webhook.serving/eventing.knative.dev) runs on a create or update of a ConfigMap
// of its namespace.
var configValidators = map[string]map[string]func(*corev1.ConfigMap) error{
	"knative-serving": {
		autoscalerconfig.ConfigName:      ignore(autoscalerconfig.NewConfigFromConfigMap),
		gc.ConfigName:                    ignore(gc.NewConfigFromConfigMapFunc(context.Background())),
		netcfg.ConfigMapName:             ignore(netcfg.NewConfigFromConfigMap),
		deployment.ConfigName:            ignore(deployment.NewConfigFromConfigMap),
		servingconfig.FeaturesConfigName: ignore(servingconfig.NewFeaturesConfigFromConfigMap),
		servingo11y.Name():               ignore(servingo11y.Parse),
		logging.ConfigMapName():          ignore(logging.NewConfigFromConfigMap),
		leaderelection.ConfigMapName():   ignore(leaderelection.NewConfigFromConfigMap),
		domainconfig.DomainConfigName:    ignore(domainconfig.NewDomainFromConfigMap),
		servingconfig.DefaultsConfigName: ignore(servingconfig.NewDefaultsConfigFromConfigMap),
		certconfig.CertManagerConfigName: ignore(certconfig.NewCertManagerConfigFromConfigMap),
	},
	"knative-eventing": {
		eventingo11y.Name():            ignore(eventingo11y.Parse),
		logging.ConfigMapName():        ignore(logging.NewConfigFromConfigMap),
		leaderelection.ConfigMapName(): ignore(leaderelection.NewConfigFromConfigMap),
		sugar.ConfigName:               ignore(sugar.NewConfigFromConfigMap),
	},
}

func ignore[T any](constructor func(*corev1.ConfigMap) (T, error)) func(*corev1.ConfigMap) error {
	return func(cm *corev1.ConfigMap) error {
		_, err := constructor(cm)
		return err
	}
}

// checkConfigMap validates one of the project's ConfigMaps as the cluster's webhook sees it
// after the server-side apply: merged with the release's keys.
func (c configs) checkConfigMap(o object) result {
	r := o.result()
	validate, ok := configValidators[o.Metadata.Namespace][o.Metadata.Name]
	if !ok {
		return r.skip(fmt.Sprintf("no Knative config webhook validates ConfigMap %s", o.key()))
	}
	if err := validate(c[o.key()]); err != nil {
		return r.fail(err)
	}
	return r.ok()
}
