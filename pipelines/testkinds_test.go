package pipelines

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/biopipe/biopipe/contract"
)

// runs counts stage executions per kind, to observe cache hits.
var runs = map[string]*atomic.Int64{"test.source": {}, "test.add": {}, "test.sum": {}, "test.fail": {}, "test.steps": {}}

// stepsDone counts the steps test.steps has executed (over all runs).
var stepsDone atomic.Int64

// testRegistry builds a registry of small kinds that pass numbers along in files.
func testRegistry() *contract.Registry {
	r := contract.NewRegistry()
	r.MustAdd(&contract.Kind{
		Name: "test.source", Doc: "writes a number", Salt: &contract.SaltFields{Value: "salt", Env: "salt_env"},
		Fields: []contract.Field{
			{Name: "salt", Type: contract.String},
			{Name: "salt_env", Type: contract.String, Default: "BP_TEST_SALT"},
			{Name: "value", Type: contract.Int, Required: true, Doc: "the number"},
			{Name: "path", Type: contract.Path, Doc: "optional input file (its size is added)"},
			{Name: "opts", Type: contract.Object, Fields: []contract.Field{{Name: "scale", Type: contract.Float, Default: 1.0}}},
		},
		Output: contract.Port{Name: "out", Type: contract.Table},
		New: func(cfg contract.Config) (contract.Stage, error) {
			return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
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
	r.MustAdd(&contract.Kind{
		Name: "test.add", Doc: "adds to its input",
		Fields: []contract.Field{{Name: "amount", Type: contract.Int, Default: 1}, {Name: "mode", Type: contract.String, Enum: []string{"plus", "minus"}, Default: "plus"}},
		Inputs: []contract.Port{{Name: "in", Type: contract.Table}},
		Output: contract.Port{Name: "out", Type: contract.Table},
		New: func(cfg contract.Config) (contract.Stage, error) {
			if cfg.Int("amount") == 13 {
				return nil, &contract.ConfigError{Issues: []contract.Issue{{Path: []string{"amount"}, Msg: "unlucky"}}}
			}
			return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
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
	r.MustAdd(&contract.Kind{
		Name: "test.sum", Doc: "sums its inputs and records a metric",
		Inputs: []contract.Port{{Name: "in", Type: contract.Table, Many: true}},
		Output: contract.Port{Name: "out", Type: contract.Metrics},
		New: func(cfg contract.Config) (contract.Stage, error) {
			return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
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
	r.MustAdd(&contract.Kind{
		Name: "test.fail", Doc: "fails after writing half an artifact",
		Inputs: []contract.Port{{Name: "in", Type: contract.Table, Optional: true}},
		Output: contract.Port{Name: "out", Type: contract.Table},
		New: func(cfg contract.Config) (contract.Stage, error) {
			return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
				runs["test.fail"].Add(1)
				_ = os.WriteFile(env.Out("n.txt"), []byte("4"), 0o644)
				return fmt.Errorf("disk on fire")
			}), nil
		},
	})
	r.MustAdd(&contract.Kind{
		Name: "test.steps", Doc: "counts to steps, keeping its position in Env.StateDir; stops when ctx is cancelled",
		Fields: []contract.Field{
			{Name: "steps", Type: contract.Int, Default: 10},
			{Name: "stop_at", Type: contract.Int, Default: -1, NoKey: true, Doc: "cancel the run (via the stop func) at this step"},
		},
		Output: contract.Port{Name: "out", Type: contract.Table},
		New: func(cfg contract.Config) (contract.Stage, error) {
			return contract.StageFunc(func(ctx context.Context, env *contract.Env) error {
				runs["test.steps"].Add(1)
				pos := filepath.Join(env.StateDir, "pos")
				i, _ := readN(pos)
				for ; i < env.Config.Int("steps"); i++ {
					if i == env.Config.Int("stop_at") && stopRun != nil {
						stopRun()
					}
					if err := ctx.Err(); err != nil {
						if err := os.MkdirAll(env.StateDir, 0o755); err != nil {
							return err
						}
						return errors.Join(err, os.WriteFile(pos, []byte(strconv.Itoa(i)), 0o644))
					}
					stepsDone.Add(1)
				}
				return os.WriteFile(env.Out("n.txt"), []byte(strconv.Itoa(i)), 0o644)
			}), nil
		},
	})
	return r
}

// stopRun, when set, is called by test.steps at its stop_at step.
var stopRun func()

func readN(p string) (int, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(string(b))
}
