package pipelines

import (
	"fmt"
	"strings"
)

// DOT renders the plan as a Graphviz digraph.
func (p *Plan) DOT() string {
	var b strings.Builder
	fmt.Fprintf(&b, "digraph %q {\n  rankdir=LR;\n  node [shape=box, style=rounded];\n", p.Spec.Name)
	for _, ps := range p.Order {
		fmt.Fprintf(&b, "  %q [label=\"%s\\n(%s)\"];\n", ps.Spec.ID, ps.Spec.ID, ps.Spec.Kind)
	}
	for _, ps := range p.Order {
		for _, bd := range ps.Ports {
			fmt.Fprintf(&b, "  %q -> %q [label=%q];\n", bd.From, ps.Spec.ID, string(bd.Type))
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// Mermaid renders the plan as a Mermaid flowchart.
func (p *Plan) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	id := func(s string) string { return strings.NewReplacer("-", "_", " ", "_").Replace(s) }
	for _, ps := range p.Order {
		fmt.Fprintf(&b, "  %s[\"%s<br/>%s\"]\n", id(ps.Spec.ID), ps.Spec.ID, ps.Spec.Kind)
	}
	for _, ps := range p.Order {
		for _, bd := range ps.Ports {
			fmt.Fprintf(&b, "  %s -->|%s| %s\n", id(bd.From), bd.Type, id(ps.Spec.ID))
		}
	}
	return b.String()
}
