package main

import (
	"fmt"
	"os"
	"path/filepath"

	"gopkg.in/yaml.v2"
	fn "knative.dev/func/pkg/functions"
)

// checkFunction loads a func.yaml as `func deploy` does (fn.NewFunction, which migrates an
// older specVersion, then Function.Validate), from a copy in a temporary folder because
// func writes into the function's folder. func decodes func.yaml leniently and only warns
// about unknown fields; here they fail, since a field func ignores is a setting that
// silently does not happen. An older specVersion is a warning: func migrates it on deploy.
func checkFunction(path string) result {
	name := filepath.Base(filepath.Dir(path))
	r := result{Origin: path, Kind: "func.yaml", Name: name}
	content, err := os.ReadFile(path)
	if err != nil {
		return r.fail(err)
	}
	if err := yaml.UnmarshalStrict(content, &fn.Function{}); err != nil {
		return r.fail(err)
	}

	tmp, err := os.MkdirTemp("", "admission-func-")
	if err != nil {
		return r.fail(err)
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, name)
	if err := os.Mkdir(root, 0o755); err != nil {
		return r.fail(err)
	}
	if err := os.WriteFile(filepath.Join(root, fn.FunctionFile), content, 0o644); err != nil {
		return r.fail(err)
	}

	f, err := fn.NewFunction(root)
	if err != nil {
		return r.fail(err)
	}
	if !f.Initialized() {
		return r.fail(fmt.Errorf("func sees no initialized function: func.yaml needs a created timestamp"))
	}
	if err := f.Validate(); err != nil {
		return r.fail(err)
	}
	if !f.Migrated() {
		r.Warnings = append(r.Warnings, fmt.Sprintf("specVersion %s is older than %s: func migrates it on every load", f.SpecVersion, fn.LastSpecVersion()))
	}
	return r.ok()
}
