// Package complete holds biopipe's dynamic shell completion: stage kinds, model families,
// stage ids for `run --force` and field paths for `--set`, all read from the registries and
// from the pipeline file named on the command line. The functions have cobra's
// CompletionFunc shape so commands register them directly; `biopipe completion bash|zsh|fish`
// (cobra's) makes the shell call them through the hidden __complete command.
package complete

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
	"github.com/biopipe/biopipe/pipelines"
	"github.com/biopipe/biopipe/stages/train"
)

// Kinds returns the registered stage kinds that start with prefix, each with its one-line doc.
func Kinds(reg *contract.Registry, prefix string) []cobra.Completion {
	var out []cobra.Completion
	reg.Walk(func(k *contract.Kind) {
		if strings.HasPrefix(k.Name, prefix) {
			out = append(out, cobra.CompletionWithDesc(k.Name, k.Doc))
		}
	})
	return out
}

// KindArgs completes a command's first positional argument with a stage kind.
func KindArgs(reg *contract.Registry) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return Kinds(reg, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// Models completes a model family name (the train stage's model field), with its doc.
func Models(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, f := range models.Families() {
		if strings.HasPrefix(f.Name, toComplete) {
			out = append(out, cobra.CompletionWithDesc(f.Name, f.Doc))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// PipelineFile completes a command's first positional argument with a YAML file.
func PipelineFile(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
}

// stage is what completion needs of one stage of a pipeline file.
type stage struct {
	id, kind string
	with     map[string]any
}

// readStages reads the stages of a pipeline file without validating it (completion must
// work on a file that does not validate yet). A file that cannot be parsed has no stages.
func readStages(file string) (vars []string, stages []stage) {
	src, _ := pipelines.Load(file, nil)
	if src == nil || src.Value == nil {
		return nil, nil
	}
	if v, ok := src.Value["vars"].(map[string]any); ok {
		vars = slices.Sorted(maps.Keys(v))
	}
	list, _ := src.Value["stages"].([]any)
	for _, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			continue
		}
		s := stage{}
		s.id, _ = m["id"].(string)
		s.kind, _ = m["kind"].(string)
		s.with, _ = m["with"].(map[string]any)
		if s.id != "" {
			stages = append(stages, s)
		}
	}
	return vars, stages
}

// StageIDs returns the ids of the stages in a pipeline file that start with prefix, each
// described by its kind, in file order.
func StageIDs(file, prefix string) []cobra.Completion {
	_, stages := readStages(file)
	var out []cobra.Completion
	for _, s := range stages {
		if strings.HasPrefix(s.id, prefix) {
			out = append(out, cobra.CompletionWithDesc(s.id, s.kind))
		}
	}
	return out
}

// Force completes `run FILE --force=STAGE` with the stage ids of FILE (the first argument);
// a comma-separated list completes its last element.
func Force(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	head, last := "", toComplete
	if i := strings.LastIndex(toComplete, ","); i >= 0 {
		head, last = toComplete[:i+1], toComplete[i+1:]
	}
	var out []cobra.Completion
	for _, c := range StageIDs(args[0], last) {
		out = append(out, head+c)
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// SetPaths returns the `--set` paths of a pipeline file that start with toComplete, each
// ending in "=": the top-level keys, every var, and every field of every stage's with: block
// (nested blocks as dotted paths; a train stage lists its model family's fields only). Once
// toComplete holds "=", it completes the value of a field with a fixed set of choices.
func SetPaths(reg *contract.Registry, file, toComplete string) []cobra.Completion {
	vars, stages := readStages(file)
	type leaf struct {
		path, doc string
		choices   []string
	}
	leaves := []leaf{
		{path: "name", doc: "pipeline name"},
		{path: "description", doc: "pipeline description"},
		{path: "seed", doc: "random seed of every stage"},
		{path: "backend", doc: "go | xla:cpu | xla:cuda", choices: pipelines.Backends},
	}
	for _, v := range vars {
		leaves = append(leaves, leaf{path: "vars." + v, doc: "pipeline variable ${" + v + "}"})
	}
	var walk func(prefix string, fields []contract.Field)
	walk = func(prefix string, fields []contract.Field) {
		for _, f := range fields {
			if f.Type == contract.Object {
				walk(prefix+f.Name+".", f.Fields)
				continue
			}
			l := leaf{path: prefix + f.Name, doc: fmt.Sprintf("%s: %s", f.Type, f.Doc), choices: f.Enum}
			if f.Type == contract.Bool {
				l.choices = []string{"true", "false"}
			}
			leaves = append(leaves, l)
		}
	}
	for _, s := range stages {
		walk("stages."+s.id+".with.", stageFields(reg, s))
	}
	var out []cobra.Completion
	if path, value, ok := strings.Cut(toComplete, "="); ok {
		for _, l := range leaves {
			if l.path != path {
				continue
			}
			for _, c := range l.choices {
				if strings.HasPrefix(c, value) {
					out = append(out, path+"="+c)
				}
			}
		}
		return out
	}
	for _, l := range leaves {
		if strings.HasPrefix(l.path, toComplete) {
			out = append(out, cobra.CompletionWithDesc(l.path+"=", l.doc))
		}
	}
	return out
}

// stageFields are the config fields of a stage: its kind's, narrowed to the model family for
// a train stage that names one.
func stageFields(reg *contract.Registry, s stage) []contract.Field {
	k, err := reg.Get(s.kind)
	if err != nil {
		return nil
	}
	if k.Name == train.KindName {
		if m, ok := s.with[train.FieldModel].(string); ok {
			if fields, err := train.FieldsFor(m); err == nil {
				return fields
			}
		}
	}
	return k.Fields
}

// Set completes a `--set PATH=VALUE` flag from the pipeline file given as the command's first
// argument (see SetPaths).
func Set(reg *contract.Registry) cobra.CompletionFunc {
	return func(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		out := SetPaths(reg, args[0], toComplete)
		d := cobra.ShellCompDirectiveNoFileComp
		if !strings.Contains(toComplete, "=") {
			d |= cobra.ShellCompDirectiveNoSpace
		}
		return out, d
	}
}
