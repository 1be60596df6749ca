package dashboard

import (
	"fmt"
	"net/url"
	"sort"

	"github.com/enclave-mlops/enclave/client"
)

// The run's graph is laid out here and drawn as inline SVG, so it needs no
// JavaScript: steps in columns by depth (the longest path from a first step),
// edges from each parent to its children.

const (
	nodeW, nodeH = 184, 52
	gapX, gapY   = 56, 20
	pad          = 12
)

type dagNode struct {
	X, Y, W, H   int
	Name, Status string
	Class, Href  string
	TextX, TextY int
}

type dagEdge struct{ Path string }

type dag struct {
	Width, Height int
	Nodes         []dagNode
	Edges         []dagEdge
}

// parentsOf returns each step's parents: the ones the step names, and the
// producers of the artifacts it reads.
func parentsOf(steps []client.Step) map[string][]string {
	byID := map[string]bool{}
	producer := map[string]string{}
	for _, st := range steps {
		byID[st.ID] = true
		for _, ids := range st.Body.Outputs {
			for _, id := range ids {
				producer[id] = st.ID
			}
		}
	}
	parents := map[string][]string{}
	for _, st := range steps {
		seen := map[string]bool{}
		add := func(p string) {
			if p != st.ID && byID[p] && !seen[p] {
				seen[p] = true
				parents[st.ID] = append(parents[st.ID], p)
			}
		}
		if st.Metadata != nil {
			for _, p := range st.Metadata.ParentStepIDs {
				add(p)
			}
		}
		slots := make([]string, 0, len(st.Body.Inputs))
		for slot := range st.Body.Inputs {
			slots = append(slots, slot)
		}
		sort.Strings(slots)
		for _, slot := range slots {
			for _, id := range st.Body.Inputs[slot] {
				if p, ok := producer[id]; ok {
					add(p)
				}
			}
		}
	}
	return parents
}

// depths gives each step the length of the longest path to it; a cycle
// (which a valid run never has) is cut after as many rounds as steps.
func depths(steps []client.Step, parents map[string][]string) map[string]int {
	d := map[string]int{}
	for round := 0; round <= len(steps); round++ {
		changed := false
		for _, st := range steps {
			for _, p := range parents[st.ID] {
				if d[p]+1 > d[st.ID] {
					d[st.ID] = d[p] + 1
					changed = true
				}
			}
		}
		if !changed {
			break
		}
	}
	return d
}

func layoutDAG(wsID string, steps []client.Step) dag {
	if len(steps) == 0 {
		return dag{}
	}
	parents := parentsOf(steps)
	d := depths(steps, parents)
	rows := map[int]int{} // next free row of each column
	pos := map[string][2]int{}
	var g dag
	for _, st := range steps { // steps come in creation order, which keeps rows stable
		col := d[st.ID]
		row := rows[col]
		rows[col]++
		x, y := pad+col*(nodeW+gapX), pad+row*(nodeH+gapY)
		pos[st.ID] = [2]int{x, y}
		g.Nodes = append(g.Nodes, dagNode{
			X: x, Y: y, W: nodeW, H: nodeH, Name: truncateRunes(st.Name, 22), Status: st.Body.Status,
			Class: statusClass(st.Body.Status), Href: "/workspaces/" + url.PathEscape(wsID) + "/steps/" + url.PathEscape(st.ID),
			TextX: x + 12, TextY: y + 21,
		})
		g.Width = max(g.Width, x+nodeW+pad)
		g.Height = max(g.Height, y+nodeH+pad)
	}
	for _, st := range steps {
		to := pos[st.ID]
		for _, p := range parents[st.ID] {
			from := pos[p]
			x1, y1 := from[0]+nodeW, from[1]+nodeH/2
			x2, y2 := to[0], to[1]+nodeH/2
			mid := (x1 + x2) / 2
			g.Edges = append(g.Edges, dagEdge{Path: fmt.Sprintf("M%d %d C%d %d, %d %d, %d %d", x1, y1, mid, y1, mid, y2, x2-6, y2)})
		}
	}
	return g
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}
