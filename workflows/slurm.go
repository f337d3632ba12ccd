package workflows

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/pipelines"
)

// SlurmDefaults are sbatch options for every job of a workflow (a stage's own resources:
// block overrides them).
type SlurmDefaults struct {
	Resources
}

// Resources are what a Slurm job asks for.
type Resources struct {
	Partition string `json:"partition,omitempty"`
	Account   string `json:"account,omitempty"`
	QOS       string `json:"qos,omitempty"`
	CPUs      int    `json:"cpus,omitempty"`
	Mem       string `json:"mem,omitempty"`  // sbatch --mem: 4G, 500M
	Time      string `json:"time,omitempty"` // sbatch --time: 30:00, 2:00:00, 1-00:00:00
	GPUs      int    `json:"gpus,omitempty"` // --gres=gpu:N
}

var resourceFields = []string{"partition", "account", "qos", "cpus", "mem", "time", "gpus"}

func decodeSlurm(m map[string]any, path string, src *pipelines.Source) (SlurmDefaults, pipelines.SpecErrors) {
	r, errs := decodeResources(m, path, func(p string) pipelines.Pos { return src.KeyPos(p) })
	return SlurmDefaults{Resources: r}, errs
}

// decodeResources checks a resources: mapping (unknown keys with "did you mean", types).
func decodeResources(m map[string]any, path string, pos func(string) pipelines.Pos) (Resources, pipelines.SpecErrors) {
	var r Resources
	var errs pipelines.SpecErrors
	bad := func(k, format string, a ...any) {
		errs = append(errs, &pipelines.SpecError{Pos: pos(path + "." + k), Msg: fmt.Sprintf(path+"."+k+": "+format, a...)})
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		str := func() string {
			switch x := v.(type) {
			case string:
				return x
			case int:
				return fmt.Sprint(x)
			}
			bad(k, "want a string, got %v", v)
			return ""
		}
		num := func() int {
			n, ok := v.(int)
			if !ok || n < 0 {
				bad(k, "want a whole number >= 0, got %v", v)
			}
			return n
		}
		switch k {
		case "partition":
			r.Partition = str()
		case "account":
			r.Account = str()
		case "qos":
			r.QOS = str()
		case "mem":
			r.Mem = str()
		case "time":
			r.Time = str()
		case "cpus":
			r.CPUs = num()
		case "gpus":
			r.GPUs = num()
		default:
			bad(k, "unknown key%s (keys: %s)", contract.DidYouMean(k, resourceFields), strings.Join(resourceFields, ", "))
		}
	}
	return r, errs
}

// merge returns r with the unset fields taken from d.
func (r Resources) merge(d Resources) Resources {
	if r.Partition == "" {
		r.Partition = d.Partition
	}
	if r.Account == "" {
		r.Account = d.Account
	}
	if r.QOS == "" {
		r.QOS = d.QOS
	}
	if r.CPUs == 0 {
		r.CPUs = d.CPUs
	}
	if r.Mem == "" {
		r.Mem = d.Mem
	}
	if r.Time == "" {
		r.Time = d.Time
	}
	if r.GPUs == 0 {
		r.GPUs = d.GPUs
	}
	return r
}

// SbatchLines returns the #SBATCH lines for r.
func (r Resources) SbatchLines() []string {
	var out []string
	add := func(k, v string) {
		if v != "" && v != "0" {
			out = append(out, "#SBATCH --"+k+"="+v)
		}
	}
	add("partition", r.Partition)
	add("account", r.Account)
	add("qos", r.QOS)
	add("cpus-per-task", fmt.Sprint(r.CPUs))
	add("mem", r.Mem)
	add("time", r.Time)
	if r.GPUs > 0 {
		add("gres", fmt.Sprintf("gpu:%d", r.GPUs))
	}
	return out
}
