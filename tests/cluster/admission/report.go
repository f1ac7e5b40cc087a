package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// result is the outcome for one object.
type result struct {
	Status   string   `json:"status"` // OK, FAIL or SKIP
	Origin   string   `json:"origin"`
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	Message  string   `json:"message,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

func (r result) ok() result { r.Status = "OK"; return r }

func (r result) skip(why string) result { r.Status, r.Message = "SKIP", why; return r }

func (r result) fail(err error) result {
	r.Status, r.Message = "FAIL", oneLine(err.Error())
	return r
}

// oneLine joins the lines of a message (Knative puts each field's error on its own line).
func oneLine(message string) string {
	var parts []string
	for _, line := range strings.Split(message, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.ReplaceAll(strings.Join(parts, "; "), ":; ", ": ")
}

// report prints every result and a closing summary line, and returns the counts.
func report(out io.Writer, results []result, asJSON bool) map[string]int {
	tally := map[string]int{}
	unchecked := map[string]int{}
	for _, r := range results {
		tally[r.Status]++
		tally["warnings"] += len(r.Warnings)
		if r.Status == "SKIP" && strings.HasPrefix(r.Message, "not checked by admission") {
			unchecked[r.Kind]++
		}
		if asJSON {
			line, _ := json.Marshal(r)
			fmt.Fprintln(out, string(line))
			continue
		}
		fmt.Fprintf(out, "%-4s %s  %s %s", r.Status, r.Origin, r.Kind, r.Name)
		if r.Message != "" {
			fmt.Fprintf(out, ": %s", r.Message)
		}
		fmt.Fprintln(out)
		for _, w := range r.Warnings {
			fmt.Fprintf(out, "     warning: %s\n", oneLine(w))
		}
	}
	kinds := make([]string, 0, len(unchecked))
	for kind, n := range unchecked {
		kinds = append(kinds, fmt.Sprintf("%s x%d", kind, n))
	}
	sort.Strings(kinds)
	summary := fmt.Sprintf("admission: %d objects: %d OK, %d FAIL, %d SKIP, %d warnings",
		len(results), tally["OK"], tally["FAIL"], tally["SKIP"], tally["warnings"])
	if len(kinds) > 0 {
		summary += "; not checked by admission (JSON schema only): " + strings.Join(kinds, ", ")
	}
	if asJSON {
		line, _ := json.Marshal(map[string]any{"summary": summary, "counts": tally, "unchecked": unchecked})
		fmt.Fprintln(out, string(line))
	} else {
		fmt.Fprintln(out, summary)
	}
	return tally
}
