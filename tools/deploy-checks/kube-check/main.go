// Command kube-check renders kustomizations and decodes every rendered object strictly against the Kubernetes API
// types (k8s.io/api), the way an API server with strict field validation would: an unknown or misspelled field, a
// duplicate field, a wrong type or an unregistered kind is an error. It needs no cluster.
//
//	kube-check <kustomization dir>...
//
// Prints one JSON document: for each directory the rendered objects (as JSON) and the problems found. Exits 1 when
// any directory has a problem, 2 on a usage error.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

type rendered struct {
	Dir      string            `json:"dir"`
	Objects  []json.RawMessage `json:"objects"`
	Problems []string          `json:"problems"`
}

// The API groups Keel's manifests use; a kind outside them is reported rather than passed unchecked.
func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, policyv1.AddToScheme, autoscalingv2.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return scheme
}

func check(dir string, decoder runtime.Decoder) rendered {
	out := rendered{Dir: dir, Objects: []json.RawMessage{}, Problems: []string{}}
	kustomizer := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	resources, err := kustomizer.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		out.Problems = append(out.Problems, fmt.Sprintf("render: %v", err))
		return out
	}
	for _, resource := range resources.Resources() {
		id := resource.CurId().String()
		yamlBytes, err := resource.AsYAML()
		if err != nil {
			out.Problems = append(out.Problems, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		// Strict decoding reports unknown and duplicate fields but still returns the object; any error counts.
		if _, _, err := decoder.Decode(yamlBytes, nil, nil); err != nil {
			out.Problems = append(out.Problems, fmt.Sprintf("%s: %v", id, err))
		}
		jsonBytes, err := resource.MarshalJSON()
		if err != nil {
			out.Problems = append(out.Problems, fmt.Sprintf("%s: %v", id, err))
			continue
		}
		out.Objects = append(out.Objects, jsonBytes)
	}
	return out
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kube-check <kustomization dir>...")
		os.Exit(2)
	}
	scheme := newScheme()
	decoder := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	results := []rendered{}
	failed := false
	for _, dir := range os.Args[1:] {
		result := check(dir, decoder)
		failed = failed || len(result.Problems) > 0
		results = append(results, result)
	}
	encoder := json.NewEncoder(os.Stdout)
	if err := encoder.Encode(results); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
