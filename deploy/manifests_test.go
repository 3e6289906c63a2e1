package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// kustomizations are the folders `kubectl apply -k` takes: the base and each overlay.
var kustomizations = []string{"k8s/base", "k8s/overlays/example"}

// TestManifestsDecodeStrictly builds every kustomization offline (kustomize's
// own library, as `kubectl kustomize` does) and decodes each resulting object
// into its Kubernetes API type, refusing unknown fields: a misspelt or
// misplaced field fails here instead of being dropped by the API server.
func TestManifestsDecodeStrictly(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			objs := build(t, dir)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.kind]++
			}
			for _, k := range []string{"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap"} {
				if kinds[k] != 1 {
					t.Errorf("%s: %d objects of kind %s, want 1 (all: %v)", dir, kinds[k], k, kinds)
				}
			}
		})
	}
}

// TestManifestsHangTogether checks what no schema can: the names, labels,
// ports and timings the objects share agree with each other and with serve.
func TestManifestsHangTogether(t *testing.T) {
	for _, dir := range kustomizations {
		t.Run(dir, func(t *testing.T) {
			var (
				dep *appsv1.Deployment
				svc *corev1.Service
				hpa *autoscalingv2.HorizontalPodAutoscaler
				pdb *policyv1.PodDisruptionBudget
				cm  *corev1.ConfigMap
				ing *networkingv1.Ingress
			)
			for _, o := range build(t, dir) {
				switch v := o.obj.(type) {
				case *appsv1.Deployment:
					dep = v
				case *corev1.Service:
					svc = v
				case *autoscalingv2.HorizontalPodAutoscaler:
					hpa = v
				case *policyv1.PodDisruptionBudget:
					pdb = v
				case *corev1.ConfigMap:
					cm = v
				case *networkingv1.Ingress:
					ing = v
				}
			}
			if dep == nil || svc == nil || hpa == nil || pdb == nil || cm == nil {
				t.Fatalf("%s: missing objects", dir)
			}
			pod := dep.Spec.Template
			if dep.Spec.Replicas != nil {
				t.Errorf("Deployment sets replicas %d: the HPA owns the count, and every apply would reset it", *dep.Spec.Replicas)
			}
			for _, sel := range []map[string]string{dep.Spec.Selector.MatchLabels, svc.Spec.Selector, pdb.Spec.Selector.MatchLabels} {
				for k, v := range sel {
					if pod.Labels[k] != v {
						t.Errorf("selector %s=%s does not match the pod's labels %v", k, v, pod.Labels)
					}
				}
			}
			if len(pod.Spec.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
			}
			c := pod.Spec.Containers[0]
			if len(c.EnvFrom) != 1 || c.EnvFrom[0].ConfigMapRef == nil || c.EnvFrom[0].ConfigMapRef.Name != cm.Name {
				t.Errorf("container env from %+v, want the ConfigMap %s", c.EnvFrom, cm.Name)
			}
			listen := cm.Data["REMOTEMEDIA_LISTEN"]
			port := 0
			if _, err := fmt.Sscanf(listen[strings.LastIndexByte(listen, ':')+1:], "%d", &port); err != nil {
				t.Fatalf("REMOTEMEDIA_LISTEN %q: %v", listen, err)
			}
			if len(c.Ports) != 1 || c.Ports[0].ContainerPort != int32(port) || c.Ports[0].Name != "http" {
				t.Errorf("container ports %+v, want http on %d (REMOTEMEDIA_LISTEN)", c.Ports, port)
			}
			if svc.Spec.Ports[0].TargetPort.StrVal != "http" {
				t.Errorf("Service targets port %v, want the container's http", svc.Spec.Ports[0].TargetPort)
			}
			for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
				want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[name]
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want || p.HTTPGet.Port.StrVal != "http" {
					t.Errorf("%s probe %+v, want GET %s on http", name, p, want)
				}
			}
			mounted := false
			for _, m := range c.VolumeMounts {
				mounted = mounted || strings.HasPrefix(cm.Data["REMOTEMEDIA_TOKEN_FILE"], m.MountPath+"/")
			}
			if !mounted {
				t.Errorf("REMOTEMEDIA_TOKEN_FILE %q is on no mounted volume", cm.Data["REMOTEMEDIA_TOKEN_FILE"])
			}
			// Stopping: preStop's wait, then serve's drain, must end before the kubelet's SIGKILL.
			drain, err := time.ParseDuration(cm.Data["REMOTEMEDIA_DRAIN_TIMEOUT"])
			if err != nil {
				t.Fatalf("REMOTEMEDIA_DRAIN_TIMEOUT: %v", err)
			}
			var preStop time.Duration
			if h := c.Lifecycle; h == nil || h.PreStop == nil || h.PreStop.Exec == nil {
				t.Errorf("no preStop command")
			} else if cmd := h.PreStop.Exec.Command; len(cmd) == 2 && cmd[0] == "sleep" {
				preStop, _ = time.ParseDuration(cmd[1] + "s")
			}
			grace := time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
			if preStop == 0 || grace < preStop+drain+5*time.Second {
				t.Errorf("terminationGracePeriodSeconds %v, want at least preStop %v + drain %v + 5s", grace, preStop, drain)
			}
			if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
				t.Errorf("resources %+v: want CPU and memory requests and a memory limit", c.Resources)
			}
			if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Errorf("the container's root file system is writable")
			}
			if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != dep.Name {
				t.Errorf("HPA scales %s/%s, want Deployment/%s", ref.Kind, ref.Name, dep.Name)
			}
			if m := hpa.Spec.Metrics; len(m) != 1 || m[0].Pods == nil || m[0].Pods.Metric.Name != "remotemedia_live_sessions" {
				t.Errorf("HPA metrics %+v, want remotemedia_live_sessions per pod", m)
			}
			if ing != nil {
				b := ing.Spec.Rules[0].HTTP.Paths[0].Backend.Service
				if b.Name != svc.Name || b.Port.Name != svc.Spec.Ports[0].Name {
					t.Errorf("Ingress backend %s:%s, want %s:%s", b.Name, b.Port.Name, svc.Name, svc.Spec.Ports[0].Name)
				}
				hosts := strings.Split(cm.Data["REMOTEMEDIA_ALLOW_HOST"], ",")
				if h := ing.Spec.Rules[0].Host; !contains(hosts, h) {
					t.Errorf("Ingress host %q is not in REMOTEMEDIA_ALLOW_HOST %q: serve would refuse its requests (403)", h, hosts)
				}
			}
		})
	}
}

// TestPrometheusAdapterValues: the adapter's rule serves the metric the HPA
// asks for, from the series the server exports.
func TestPrometheusAdapterValues(t *testing.T) {
	var values struct {
		Prometheus map[string]any `json:"prometheus"`
		Rules      struct {
			Default bool `json:"default"`
			Custom  []struct {
				SeriesQuery string         `json:"seriesQuery"`
				Resources   map[string]any `json:"resources"`
				Name        struct {
					Matches string `json:"matches"`
					As      string `json:"as"`
				} `json:"name"`
				MetricsQuery string `json:"metricsQuery"`
			} `json:"custom"`
		} `json:"rules"`
	}
	decodeStrict(t, "k8s/prometheus-adapter/values.yaml", &values)
	if len(values.Rules.Custom) != 1 {
		t.Fatalf("%d custom rules, want 1", len(values.Rules.Custom))
	}
	r := values.Rules.Custom[0]
	if !strings.HasPrefix(r.SeriesQuery, "remotemedia_live_sessions{") || r.Name.As != "remotemedia_live_sessions" {
		t.Errorf("rule %+v does not serve remotemedia_live_sessions", r)
	}
}

type object struct {
	kind string
	obj  any
}

// build runs kustomize on dir and decodes each object strictly by its kind.
func build(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resMap, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var objs []object
	for _, r := range resMap.Resources() {
		js, err := r.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var obj any
		switch kind := r.GetKind(); kind {
		case "Deployment":
			obj = &appsv1.Deployment{}
		case "Service":
			obj = &corev1.Service{}
		case "ConfigMap":
			obj = &corev1.ConfigMap{}
		case "HorizontalPodAutoscaler":
			obj = &autoscalingv2.HorizontalPodAutoscaler{}
		case "PodDisruptionBudget":
			obj = &policyv1.PodDisruptionBudget{}
		case "Ingress":
			obj = &networkingv1.Ingress{}
		default:
			t.Fatalf("%s: %s %q: no API type to check it against (add it to build)", dir, kind, r.GetName())
		}
		if err := strictJSON(js, obj); err != nil {
			t.Errorf("%s: %s %q: %v", dir, r.GetKind(), r.GetName(), err)
		}
		objs = append(objs, object{r.GetKind(), obj})
	}
	return objs
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.FromSlash(path))
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if err := strictJSON(js, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// strictJSON decodes one JSON document into v, refusing fields v's type lacks.
func strictJSON(js []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after the object")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.TrimSpace(v) == s {
			return true
		}
	}
	return false
}
