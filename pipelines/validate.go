package pipelines

import (
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
)

// Backends that a pipeline may name.
var Backends = []string{"go", "xla:cpu", "xla:cuda"}

// Spec is a decoded pipeline file.
type Spec struct {
	Name        string
	Description string
	Seed        int64
	Backend     string
	Schedule    string // cron line for `biopipe schedule` ("" = none); not part of any cache key
	Vars        map[string]any
	Stages      []*StageSpec
}

// StageSpec is one stage of a pipeline.
type StageSpec struct {
	ID     string
	Kind   string
	Inputs []string
	With   map[string]any
	// Resources is the stage's optional resources: block (ResourceFields), what a batch job
	// running it asks for (biopipe submit --slurm); it does not change the stage's output.
	Resources contract.Config
	index     int
}

// PlannedStage is a validated stage: its kind, resolved config and port bindings.
type PlannedStage struct {
	Spec   *StageSpec
	Kind   *contract.Kind
	Config contract.Config
	Stage  contract.Stage
	// Ports maps each upstream stage id (in Spec.Inputs order) to the input port it feeds.
	Ports []Binding
}

// Binding connects an upstream stage to an input port.
type Binding struct {
	From string
	Port string
	Type contract.PortType
}

// Plan is a validated pipeline in topological order.
type Plan struct {
	Source *Source
	Spec   *Spec
	Order  []*PlannedStage
	byID   map[string]*PlannedStage
}

// Stage returns the planned stage with this id, or nil.
func (p *Plan) Stage(id string) *PlannedStage { return p.byID[id] }

var topFields = []string{"name", "description", "seed", "backend", "vars", "stages", "schedule"}
var stageFields = []string{"id", "kind", "inputs", "with", "doc", "resources"}
var idRx = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// Validate decodes and checks a loaded pipeline against a registry, without running anything:
// unknown keys and kinds, wrong types, missing fields, dangling inputs, port types and cycles.
// It returns every problem found as SpecErrors.
func Validate(src *Source, reg *contract.Registry) (*Plan, error) {
	var errs SpecErrors
	add := func(pos Pos, stage, field, format string, a ...any) {
		errs = append(errs, &SpecError{Pos: pos, StageID: stage, Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	v := src.Value
	spec := &Spec{Backend: "go", Vars: map[string]any{}}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if !slices.Contains(topFields, k) {
			add(src.KeyPos(k), "", "", "unknown key %q%s", k, contract.DidYouMean(k, topFields))
		}
	}
	if s, ok := v["name"].(string); ok && s != "" {
		spec.Name = s
	} else {
		add(src.KeyPos("name"), "", "", "missing or empty \"name\" (a short name for the pipeline)")
	}
	spec.Description, _ = v["description"].(string)
	if s, ok := v["seed"]; ok {
		switch x := s.(type) {
		case int:
			spec.Seed = int64(x)
		case float64:
			if x == math.Trunc(x) {
				spec.Seed = int64(x)
			} else {
				add(src.ValuePos("seed"), "", "", "seed must be an integer, got %v", x)
			}
		case string:
			n, err := strconv.ParseInt(x, 10, 64)
			if err != nil {
				add(src.ValuePos("seed"), "", "", "seed must be an integer, got %q", x)
			}
			spec.Seed = n
		default:
			add(src.ValuePos("seed"), "", "", "seed must be an integer")
		}
	}
	if s, ok := v["backend"]; ok {
		b, _ := s.(string)
		if !slices.Contains(Backends, b) {
			add(src.ValuePos("backend"), "", "", "backend %q is not one of %s%s", b, strings.Join(Backends, ", "), contract.DidYouMean(b, Backends))
		}
		spec.Backend = b
	}
	if s, ok := v["schedule"]; ok {
		if spec.Schedule, ok = s.(string); !ok {
			add(src.ValuePos("schedule"), "", "", "schedule must be a cron line in quotes, e.g. \"0 3 * * *\"")
		}
	}
	if vars, ok := v["vars"].(map[string]any); ok {
		spec.Vars = vars
	}
	list, ok := v["stages"].([]any)
	if !ok || len(list) == 0 {
		add(src.KeyPos("stages"), "", "", "\"stages\" must be a non-empty list")
	}
	ids := map[string]int{}
	for i, item := range list {
		p := "stages." + strconv.Itoa(i)
		m, ok := item.(map[string]any)
		if !ok {
			add(src.ValuePos(p), "", "", "a stage is a mapping with id, kind, inputs, with")
			continue
		}
		st := &StageSpec{index: i, With: map[string]any{}}
		st.ID, _ = m["id"].(string)
		if st.ID == "" {
			add(src.ValuePos(p), "", "", "stage %d has no \"id\"", i+1)
			st.ID = fmt.Sprintf("#%d", i+1)
		} else if !idRx.MatchString(st.ID) {
			add(src.ValuePos(p+".id"), st.ID, "", "stage id must start with a letter and hold letters, digits, _ or -")
		} else if j, dup := ids[st.ID]; dup {
			add(src.ValuePos(p+".id"), st.ID, "", "duplicate stage id (first used by stage %d)", j+1)
		}
		ids[st.ID] = i
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !slices.Contains(stageFields, k) {
				add(src.KeyPos(p+"."+k), st.ID, "", "unknown key %q%s", k, contract.DidYouMean(k, stageFields))
			}
		}
		st.Kind, _ = m["kind"].(string)
		if st.Kind == "" {
			add(src.ValuePos(p), st.ID, "", "missing \"kind\" (see `biopipe stages` for the list)")
		}
		switch in := m["inputs"].(type) {
		case nil:
		case string:
			st.Inputs = []string{in}
		case []any:
			for j, x := range in {
				s, ok := x.(string)
				if !ok {
					add(src.ValuePos(fmt.Sprintf("%s.inputs.%d", p, j)), st.ID, "", "an input is a stage id")
					continue
				}
				st.Inputs = append(st.Inputs, s)
			}
		default:
			add(src.ValuePos(p+".inputs"), st.ID, "", "inputs must be a list of stage ids")
		}
		switch w := m["with"].(type) {
		case nil:
		case map[string]any:
			st.With = w
		default:
			add(src.ValuePos(p+".with"), st.ID, "", "with must be a mapping of config fields")
		}
		switch r := m["resources"].(type) {
		case nil:
		case map[string]any:
			cfg, issues := contract.Check(ResourceFields, r)
			for _, is := range issues {
				fp := p + ".resources." + strings.Join(is.Path, ".")
				add(src.KeyPos(fp), st.ID, "resources."+strings.Join(is.Path, "."), "%s", strings.TrimPrefix(is.Msg, "field "))
			}
			st.Resources = cfg
		default:
			add(src.ValuePos(p+".resources"), st.ID, "", "resources must be a mapping (cpus, mem, time, gpus, partition, account, qos)")
		}
		spec.Stages = append(spec.Stages, st)
	}
	plan := &Plan{Source: src, Spec: spec, byID: map[string]*PlannedStage{}}
	var planned []*PlannedStage
	for _, st := range spec.Stages {
		p := "stages." + strconv.Itoa(st.index)
		ps := &PlannedStage{Spec: st}
		planned = append(planned, ps)
		plan.byID[st.ID] = ps
		if st.Kind == "" {
			continue
		}
		kind, err := reg.Get(st.Kind)
		if err != nil {
			add(src.ValuePos(p+".kind"), st.ID, "", "%v", err)
			continue
		}
		ps.Kind = kind
		cfg, issues := contract.Check(kind.Fields, st.With)
		for _, is := range issues {
			fp := p + ".with"
			if len(is.Path) > 0 {
				fp += "." + strings.Join(is.Path, ".")
			}
			pos := src.ValuePos(fp)
			if strings.HasPrefix(is.Msg, "unknown field") {
				pos = src.KeyPos(fp)
			} else if is.Msg == "missing required field" {
				pos = src.KeyPos(p + ".with")
				if _, ok := src.pos["#key:"+p+".with"]; !ok {
					pos = src.KeyPos(p + ".kind")
				}
			}
			add(pos, st.ID, strings.Join(is.Path, "."), "%s", strings.TrimPrefix(is.Msg, "field "))
		}
		if len(issues) == 0 {
			ps.Config = cfg
			s, err := kind.New(cfg)
			if ce, ok := err.(*contract.ConfigError); ok {
				for _, is := range ce.Issues {
					fp := p + ".with." + strings.Join(is.Path, ".")
					add(src.ValuePos(fp), st.ID, strings.Join(is.Path, "."), "%s", is.Msg)
				}
			} else if err != nil {
				add(src.KeyPos(p+".with"), st.ID, "", "%v", err)
			}
			ps.Stage = s
		}
	}
	// Inputs: dangling ids and port binding by artifact type.
	for _, ps := range planned {
		st := ps.Spec
		p := "stages." + strconv.Itoa(st.index)
		for j, in := range st.Inputs {
			up, ok := plan.byID[in]
			if !ok {
				var all []string
				for _, o := range spec.Stages {
					all = append(all, o.ID)
				}
				add(src.ValuePos(fmt.Sprintf("%s.inputs.%d", p, j)), st.ID, "", "input %q is not a stage of this pipeline%s", in, contract.DidYouMean(in, all))
				continue
			}
			if in == st.ID {
				add(src.ValuePos(fmt.Sprintf("%s.inputs.%d", p, j)), st.ID, "", "a stage cannot be its own input")
			}
			_ = up
		}
		if ps.Kind == nil {
			continue
		}
		bindings, bindErrs := bindPorts(ps, plan)
		for _, e := range bindErrs {
			add(src.KeyPos(p+".inputs"), st.ID, "", "%s", e)
		}
		ps.Ports = bindings
	}
	order, cycle := topoSort(planned)
	if cycle != nil {
		first := plan.byID[cycle[0]]
		add(src.KeyPos("stages."+strconv.Itoa(first.Spec.index)+".inputs"), cycle[0], "", "cycle: %s", strings.Join(cycle, " -> "))
	}
	plan.Order = order
	if len(errs) > 0 {
		return nil, errs.orNil()
	}
	return plan, nil
}

// bindPorts matches each upstream stage to an input port by artifact type.
func bindPorts(ps *PlannedStage, plan *Plan) ([]Binding, []string) {
	var out []Binding
	var errs []string
	filled := map[string]int{}
	for _, in := range ps.Spec.Inputs {
		up := plan.byID[in]
		if up == nil || up.Kind == nil {
			continue
		}
		t := up.Kind.Output.Type
		var port *contract.Port
		for i := range ps.Kind.Inputs {
			pt := &ps.Kind.Inputs[i]
			if (pt.Type == t || pt.Type == contract.Any) && (pt.Many || filled[pt.Name] == 0) {
				port = pt
				break
			}
		}
		if port == nil {
			var want []string
			for _, pt := range ps.Kind.Inputs {
				want = append(want, fmt.Sprintf("%s (%s)", pt.Name, pt.Type))
			}
			if len(want) == 0 {
				errs = append(errs, fmt.Sprintf("kind %s takes no inputs, but %q is listed", ps.Kind.Name, in))
			} else {
				errs = append(errs, fmt.Sprintf("input %q gives a %s artifact, but %s has no free port for it (ports: %s)", in, t, ps.Kind.Name, strings.Join(want, ", ")))
			}
			continue
		}
		filled[port.Name]++
		out = append(out, Binding{From: in, Port: port.Name, Type: t})
	}
	for _, pt := range ps.Kind.Inputs {
		if !pt.Optional && filled[pt.Name] == 0 {
			errs = append(errs, fmt.Sprintf("input port %q (%s) is not connected: list a stage that produces a %s in inputs", pt.Name, pt.Type, pt.Type))
		}
	}
	return out, errs
}

// topoSort orders stages so that inputs come first, keeping file order among independent
// stages. On a cycle it returns the cycle as a path a -> b -> a.
func topoSort(list []*PlannedStage) ([]*PlannedStage, []string) {
	byID := map[string]*PlannedStage{}
	for _, ps := range list {
		byID[ps.Spec.ID] = ps
	}
	state := map[string]int{} // 0 new, 1 visiting, 2 done
	var order []*PlannedStage
	var stack []string
	var cycle []string
	var visit func(id string) bool
	visit = func(id string) bool {
		ps := byID[id]
		if ps == nil {
			return true
		}
		switch state[id] {
		case 1:
			i := slices.Index(stack, id)
			cycle = append(append([]string{}, stack[i:]...), id)
			return false
		case 2:
			return true
		}
		state[id] = 1
		stack = append(stack, id)
		for _, in := range ps.Spec.Inputs {
			if in == id {
				continue
			}
			if !visit(in) {
				return false
			}
		}
		stack = stack[:len(stack)-1]
		state[id] = 2
		order = append(order, ps)
		return true
	}
	for _, ps := range list {
		if !visit(ps.Spec.ID) {
			return nil, cycle
		}
	}
	return order, nil
}
