package dashboard

import (
	"testing"

	"github.com/enclave-mlops/enclave/client"
)

func step(id string, parents []string, in, out map[string][]string) client.Step {
	s := client.Step{ID: id, Name: id}
	s.Body.Inputs, s.Body.Outputs = in, out
	s.Metadata = &client.StepMetadata{ParentStepIDs: parents}
	return s
}

func TestLayoutDAG(t *testing.T) {
	steps := []client.Step{
		step("load", nil, nil, map[string][]string{"data": {"a1"}}),
		step("train", nil, map[string][]string{"data": {"a1"}}, map[string][]string{"model": {"a2"}}),
		step("report", []string{"load"}, nil, nil),
		step("evaluate", nil, map[string][]string{"model": {"a2"}, "data": {"a1"}}, nil),
	}
	g := layoutDAG("ws", steps)
	col := map[string]int{}
	for _, n := range g.Nodes {
		col[n.Name] = (n.X - pad) / (nodeW + gapX)
	}
	want := map[string]int{"load": 0, "train": 1, "report": 1, "evaluate": 2}
	for name, c := range want {
		if col[name] != c {
			t.Errorf("%s in column %d, want %d", name, col[name], c)
		}
	}
	// load→train, load→report, train→evaluate, load→evaluate.
	if len(g.Edges) != 4 {
		t.Errorf("%d edges, want 4", len(g.Edges))
	}
	if g.Width < 3*nodeW || g.Height < 2*nodeH {
		t.Errorf("canvas %dx%d is too small for three columns and two rows", g.Width, g.Height)
	}
}

func TestLayoutDAGSurvivesACycle(t *testing.T) {
	steps := []client.Step{step("a", []string{"b"}, nil, nil), step("b", []string{"a"}, nil, nil)}
	if g := layoutDAG("ws", steps); len(g.Nodes) != 2 {
		t.Fatalf("%d nodes", len(g.Nodes))
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/orgs": "/orgs", "": "/", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
