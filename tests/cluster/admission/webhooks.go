package main

import (
	"context"
	"encoding/json"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"knative.dev/pkg/apis"
	webhookjson "knative.dev/pkg/webhook/json"
	"knative.dev/pkg/webhook/resourcesemantics"

	eventingconfig "knative.dev/eventing/pkg/apis/config"
	eventingv1 "knative.dev/eventing/pkg/apis/eventing/v1"
	eventingv1alpha1 "knative.dev/eventing/pkg/apis/eventing/v1alpha1"
	eventingv1beta1 "knative.dev/eventing/pkg/apis/eventing/v1beta1"
	eventingv1beta2 "knative.dev/eventing/pkg/apis/eventing/v1beta2"
	"knative.dev/eventing/pkg/apis/feature"
	flowsv1 "knative.dev/eventing/pkg/apis/flows/v1"
	channelconfig "knative.dev/eventing/pkg/apis/messaging/config"
	messagingv1 "knative.dev/eventing/pkg/apis/messaging/v1"
	"knative.dev/eventing/pkg/apis/sinks"
	sinksv1alpha1 "knative.dev/eventing/pkg/apis/sinks/v1alpha1"
	pingconfig "knative.dev/eventing/pkg/apis/sources/config"
	sourcesv1 "knative.dev/eventing/pkg/apis/sources/v1"
	sourcesv1alpha1 "knative.dev/eventing/pkg/apis/sources/v1alpha1"
	sourcesv1beta2 "knative.dev/eventing/pkg/apis/sources/v1beta2"

	netv1alpha1 "knative.dev/networking/pkg/apis/networking/v1alpha1"
	autoscalingv1alpha1 "knative.dev/serving/pkg/apis/autoscaling/v1alpha1"
	servingconfig "knative.dev/serving/pkg/apis/config"
	servingv1 "knative.dev/serving/pkg/apis/serving/v1"
	servingv1beta1 "knative.dev/serving/pkg/apis/serving/v1beta1"
)

// webhook is what one Knative webhook binary registers for its resources: the types it
// decodes, whether unknown fields are an error, and how its defaulting and validation
// controllers decorate the request context with the config stores they watch.
type webhook struct {
	name                  string
	namespace             string // where its ConfigMaps live
	types                 map[schema.GroupVersionKind]resourcesemantics.GenericCRD
	disallowUnknownFields bool
	defaultingContext     func(context.Context) context.Context
	validationContext     func(context.Context) context.Context
}

// servingWebhook mirrors knative.dev/serving cmd/webhook: both controllers wrap the context
// with one apis/config store (config-defaults, config-features, config-autoscaler) and
// leave unknown fields to the CRD schemas.
func servingWebhook(cms configs) webhook {
	store := servingconfig.NewStore(quietLogger)
	store.WatchConfigs(cms.watcher("knative-serving"))
	v1 := servingv1.SchemeGroupVersion
	return webhook{
		name:      "webhook.serving.knative.dev",
		namespace: "knative-serving",
		types: map[schema.GroupVersionKind]resourcesemantics.GenericCRD{
			v1.WithKind("Revision"):      &servingv1.Revision{},
			v1.WithKind("Configuration"): &servingv1.Configuration{},
			v1.WithKind("Route"):         &servingv1.Route{},
			v1.WithKind("Service"):       &servingv1.Service{},

			autoscalingv1alpha1.SchemeGroupVersion.WithKind("PodAutoscaler"): &autoscalingv1alpha1.PodAutoscaler{},
			autoscalingv1alpha1.SchemeGroupVersion.WithKind("Metric"):        &autoscalingv1alpha1.Metric{},

			netv1alpha1.SchemeGroupVersion.WithKind("Certificate"):       &netv1alpha1.Certificate{},
			netv1alpha1.SchemeGroupVersion.WithKind("Ingress"):           &netv1alpha1.Ingress{},
			netv1alpha1.SchemeGroupVersion.WithKind("ServerlessService"): &netv1alpha1.ServerlessService{},

			servingv1beta1.SchemeGroupVersion.WithKind("DomainMapping"): &servingv1beta1.DomainMapping{},
		},
		disallowUnknownFields: false,
		defaultingContext:     store.ToContext,
		validationContext:     store.ToContext,
	}
}

// eventingWebhook mirrors knative.dev/eventing cmd/webhook: strict decoding; defaulting sees
// the broker, channel and feature stores, validation also the PingSource store and the
// sinks config (whose Kubernetes client only JobSink uses; see main.go).
func eventingWebhook(cms configs) webhook {
	watch := cms.watcher("knative-eventing")
	defaults := eventingconfig.NewStore(quietLogger)
	defaults.WatchConfigs(watch)
	channels := channelconfig.NewStore(quietLogger)
	channels.WatchConfigs(watch)
	pings := pingconfig.NewStore(quietLogger)
	pings.WatchConfigs(watch)
	features := feature.NewStore(quietLogger)
	features.WatchConfigs(watch)
	return webhook{
		name:      "webhook.eventing.knative.dev",
		namespace: "knative-eventing",
		types: map[schema.GroupVersionKind]resourcesemantics.GenericCRD{
			eventingv1alpha1.SchemeGroupVersion.WithKind("EventPolicy"):    &eventingv1alpha1.EventPolicy{},
			eventingv1alpha1.SchemeGroupVersion.WithKind("EventTransform"): &eventingv1alpha1.EventTransform{},
			eventingv1alpha1.SchemeGroupVersion.WithKind("RequestReply"):   &eventingv1alpha1.RequestReply{},
			eventingv1beta1.SchemeGroupVersion.WithKind("EventType"):       &eventingv1beta1.EventType{},
			eventingv1beta2.SchemeGroupVersion.WithKind("EventType"):       &eventingv1beta2.EventType{},
			eventingv1.SchemeGroupVersion.WithKind("Broker"):               &eventingv1.Broker{},
			eventingv1.SchemeGroupVersion.WithKind("Trigger"):              &eventingv1.Trigger{},

			messagingv1.SchemeGroupVersion.WithKind("Channel"):      &messagingv1.Channel{},
			messagingv1.SchemeGroupVersion.WithKind("Subscription"): &messagingv1.Subscription{},

			sourcesv1alpha1.SchemeGroupVersion.WithKind("IntegrationSource"): &sourcesv1alpha1.IntegrationSource{},
			sourcesv1beta2.SchemeGroupVersion.WithKind("PingSource"):         &sourcesv1beta2.PingSource{},
			sourcesv1.SchemeGroupVersion.WithKind("ApiServerSource"):         &sourcesv1.ApiServerSource{},
			sourcesv1.SchemeGroupVersion.WithKind("PingSource"):              &sourcesv1.PingSource{},
			sourcesv1.SchemeGroupVersion.WithKind("SinkBinding"):             &sourcesv1.SinkBinding{},
			sourcesv1.SchemeGroupVersion.WithKind("ContainerSource"):         &sourcesv1.ContainerSource{},

			sinksv1alpha1.SchemeGroupVersion.WithKind("JobSink"):         &sinksv1alpha1.JobSink{},
			sinksv1alpha1.SchemeGroupVersion.WithKind("IntegrationSink"): &sinksv1alpha1.IntegrationSink{},

			flowsv1.SchemeGroupVersion.WithKind("Parallel"): &flowsv1.Parallel{},
			flowsv1.SchemeGroupVersion.WithKind("Sequence"): &flowsv1.Sequence{},
		},
		disallowUnknownFields: true,
		defaultingContext: func(ctx context.Context) context.Context {
			return features.ToContext(channels.ToContext(defaults.ToContext(ctx)))
		},
		validationContext: func(ctx context.Context) context.Context {
			ctx = features.ToContext(channels.ToContext(pings.ToContext(defaults.ToContext(ctx))))
			return sinks.WithConfig(ctx, &sinks.Config{}) // no API server: no Kubernetes client
		},
	}
}

// checker is the user in the admission request, which the webhooks put in the context.
var checker = &authenticationv1.UserInfo{Username: "coelho-admission-check"}

// admit runs what the two admission controllers of knative.dev/pkg run for a create
// request: the defaulting webhook decodes the object, calls SetDefaults under
// apis.WithinCreate, and the API server hands the defaulted object to the validation
// webhook, which decodes it again and calls Validate. Validate's warning-level errors
// become admission warnings; error-level ones reject the object.
func (w webhook) admit(raw []byte, gvk schema.GroupVersionKind) (warnings []string, err error) {
	obj := w.types[gvk].DeepCopyObject().(resourcesemantics.GenericCRD)
	if err := webhookjson.Decode(raw, obj, w.disallowUnknownFields); err != nil {
		return nil, fmt.Errorf("cannot decode incoming new object: %w", err)
	}
	ctx := apis.WithUserInfo(apis.WithinCreate(w.defaultingContext(context.Background())), checker)
	obj.SetDefaults(ctx)

	defaulted, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	obj = w.types[gvk].DeepCopyObject().(resourcesemantics.GenericCRD)
	if err := webhookjson.Decode(defaulted, obj, w.disallowUnknownFields); err != nil {
		return nil, fmt.Errorf("cannot decode defaulted object: %w", err)
	}
	ctx = apis.WithUserInfo(apis.WithinCreate(w.validationContext(context.Background())), checker)
	result := obj.Validate(ctx)
	if result == nil {
		return nil, nil
	}
	if warned := result.Filter(apis.WarningLevel); warned != nil {
		for _, w := range warned.WrappedErrors() {
			warnings = append(warnings, w.Error())
		}
	}
	if failed := result.Filter(apis.ErrorLevel); failed != nil {
		return warnings, fmt.Errorf("validation failed: %w", failed)
	}
	return warnings, nil
}
