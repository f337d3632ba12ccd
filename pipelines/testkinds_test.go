package pipelines

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"

	"github.com/biopipe/biopipe/stages"
)

// runs counts stage executions per kind, to observe cache hits.
var runs = map[string]*atomic.Int64{"test.source": {}, "test.add": {}, "test.sum": {}, "test.fail": {}}

// testRegistry builds a registry of small kinds that pass numbers along in files.
func testRegistry() *stages.Registry {
	r := stages.NewRegistry()
	r.MustAdd(&stages.Kind{
		Name: "test.source", Doc: "writes a number", Salt: &stages.SaltFields{Value: "salt", Env: "salt_env"},
		Fields: []stages.Field{
			{Name: "salt", Type: stages.String},
			{Name: "salt_env", Type: stages.String, Default: "BP_TEST_SALT"},
			{Name: "value", Type: stages.Int, Required: true, Doc: "the number"},
			{Name: "path", Type: stages.Path, Doc: "optional input file (its size is added)"},
			{Name: "opts", Type: stages.Object, Fields: []stages.Field{{Name: "scale", Type: stages.Float, Default: 1.0}}},
		},
		Output: stages.Port{Name: "out", Type: stages.Table},
		New: func(cfg stages.Config) (stages.Stage, error) {
			return stages.StageFunc(func(ctx context.Context, env *stages.Env) error {
				runs["test.source"].Add(1)
				v := env.Config.Int("value")
				if p := env.Config.String("path"); p != "" {
					b, err := os.ReadFile(p)
					if err != nil {
						return err
					}
					v += len(b)
				}
				return os.WriteFile(env.Out("n.txt"), []byte(strconv.Itoa(v)), 0o644)
			}), nil
		},
	})
	r.MustAdd(&stages.Kind{
		Name: "test.add", Doc: "adds to its input",
		Fields: []stages.Field{{Name: "amount", Type: stages.Int, Default: 1}, {Name: "mode", Type: stages.String, Enum: []string{"plus", "minus"}, Default: "plus"}},
		Inputs: []stages.Port{{Name: "in", Type: stages.Table}},
		Output: stages.Port{Name: "out", Type: stages.Table},
		New: func(cfg stages.Config) (stages.Stage, error) {
			if cfg.Int("amount") == 13 {
				return nil, &stages.ConfigError{Issues: []stages.Issue{{Path: []string{"amount"}, Msg: "unlucky"}}}
			}
			return stages.StageFunc(func(ctx context.Context, env *stages.Env) error {
				runs["test.add"].Add(1)
				in, err := env.One("in")
				if err != nil {
					return err
				}
				n, err := readN(in.File("n.txt"))
				if err != nil {
					return err
				}
				return os.WriteFile(env.Out("n.txt"), []byte(strconv.Itoa(n+env.Config.Int("amount"))), 0o644)
			}), nil
		},
	})
	r.MustAdd(&stages.Kind{
		Name: "test.sum", Doc: "sums its inputs and records a metric",
		Inputs: []stages.Port{{Name: "in", Type: stages.Table, Many: true}},
		Output: stages.Port{Name: "out", Type: stages.Metrics},
		New: func(cfg stages.Config) (stages.Stage, error) {
			return stages.StageFunc(func(ctx context.Context, env *stages.Env) error {
				runs["test.sum"].Add(1)
				total := 0
				for _, in := range env.In("in") {
					n, err := readN(in.File("n.txt"))
					if err != nil {
						return err
					}
					total += n
				}
				env.SetMetric("test_total", float64(total))
				return os.WriteFile(env.Out("n.txt"), []byte(strconv.Itoa(total)), 0o644)
			}), nil
		},
	})
	r.MustAdd(&stages.Kind{
		Name: "test.fail", Doc: "fails after writing half an artifact",
		Inputs: []stages.Port{{Name: "in", Type: stages.Table, Optional: true}},
		Output: stages.Port{Name: "out", Type: stages.Table},
		New: func(cfg stages.Config) (stages.Stage, error) {
			return stages.StageFunc(func(ctx context.Context, env *stages.Env) error {
				runs["test.fail"].Add(1)
				_ = os.WriteFile(env.Out("n.txt"), []byte("4"), 0o644)
				return fmt.Errorf("disk on fire")
			}), nil
		},
	})
	return r
}

func readN(p string) (int, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b))
}
