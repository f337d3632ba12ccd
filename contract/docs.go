package contract

import (
	"fmt"
	"io"
	"strings"
)

// WriteDocs writes the documentation of a kind, generated from its declaration.
func WriteDocs(w io.Writer, k *Kind) {
	fmt.Fprintf(w, "%s — %s\n", k.Name, k.Doc)
	if k.Description != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(k.Description))
	}
	fmt.Fprintf(w, "\nInputs:\n")
	if len(k.Inputs) == 0 {
		fmt.Fprintf(w, "  (none)\n")
	}
	for _, p := range k.Inputs {
		var flags []string
		if p.Optional {
			flags = append(flags, "optional")
		}
		if p.Many {
			flags = append(flags, "any number")
		}
		extra := ""
		if len(flags) > 0 {
			extra = " [" + strings.Join(flags, ", ") + "]"
		}
		fmt.Fprintf(w, "  %-10s %-8s%s %s\n", p.Name, p.Type, extra, p.Doc)
	}
	fmt.Fprintf(w, "Output:\n  %-10s %-8s %s\n", k.Output.Name, k.Output.Type, k.Output.Doc)
	fmt.Fprintf(w, "\nConfig (with:):\n")
	writeFields(w, k.Fields, "  ")
	if k.Example != "" {
		fmt.Fprintf(w, "\nExample:\n%s\n", indent(strings.TrimSpace(k.Example), "  "))
	}
}

func writeFields(w io.Writer, fields []Field, pad string) {
	if len(fields) == 0 {
		fmt.Fprintf(w, "%s(no fields)\n", pad)
	}
	for _, f := range fields {
		var attrs []string
		if f.Required {
			attrs = append(attrs, "required")
		}
		if f.Default != nil {
			attrs = append(attrs, fmt.Sprintf("default %v", f.Default))
		}
		if len(f.Enum) > 0 {
			attrs = append(attrs, "one of "+strings.Join(f.Enum, "|"))
		}
		if f.Min != nil {
			attrs = append(attrs, fmt.Sprintf(">= %v", *f.Min))
		}
		if f.Max != nil {
			attrs = append(attrs, fmt.Sprintf("<= %v", *f.Max))
		}
		a := ""
		if len(attrs) > 0 {
			a = " (" + strings.Join(attrs, "; ") + ")"
		}
		fmt.Fprintf(w, "%s%-16s %-9s %s%s\n", pad, f.Name, f.Type, f.Doc, a)
		if f.Type == Object {
			writeFields(w, f.Fields, pad+"    ")
		}
	}
}

func indent(s, pad string) string {
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}
