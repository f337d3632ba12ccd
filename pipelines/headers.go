package pipelines

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/biopipe/biopipe/contract"
)

// CheckHeaders checks every stage's config against the headers of its data, reading only
// headers (see contract.HeaderCheck): table columns named as label, id, group or drop, EDF
// channel labels, the join key of a labels CSV, the sample ids of an annotation table. Stages
// are visited in topological order, so each sees the columns and channels its upstream
// stages will produce. Every mistake is a SpecError at the YAML field that names it, with a
// "did you mean"; `biopipe validate` reports them, and Run checks before any stage starts.
func CheckHeaders(ctx context.Context, plan *Plan) error {
	var errs SpecErrors
	headers := map[string]contract.DataHeader{}
	for _, ps := range plan.Order {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ps.Kind == nil || ps.Kind.Headers == nil || ps.Config == nil {
			continue
		}
		p := "stages." + strconv.Itoa(ps.Spec.index) + ".with"
		// paths resolve as the run resolves them (working directory, then the file's folder)
		cfg, _, err := resolvePaths(ps.Kind.Fields, ps.Config, filepath.Dir(plan.Source.File), false)
		if err != nil {
			var pe *pathError
			if errors.As(err, &pe) {
				errs = append(errs, &SpecError{Pos: plan.Source.ValuePos(p + "." + pe.field), StageID: ps.Spec.ID, Field: pe.field, Msg: pe.err.Error()})
			}
			continue
		}
		up := make([]contract.DataHeader, len(ps.Spec.Inputs))
		for i, in := range ps.Spec.Inputs {
			up[i] = headers[in]
		}
		h, issues := safeHeaders(ctx, ps.Kind, cfg, up)
		headers[ps.Spec.ID] = h
		for _, is := range issues {
			fp := p
			if len(is.Path) > 0 {
				fp += "." + strings.Join(is.Path, ".")
			}
			errs = append(errs, &SpecError{Pos: plan.Source.ValuePos(fp), StageID: ps.Spec.ID, Field: strings.Join(is.Path, "."), Msg: is.Msg})
		}
	}
	return errs.orNil()
}

// safeHeaders runs a kind's header check; a panic (a reader's bug on a corrupt header) is
// an issue naming the stage, not a crash.
func safeHeaders(ctx context.Context, k *contract.Kind, cfg contract.Config, up []contract.DataHeader) (h contract.DataHeader, issues []contract.Issue) {
	defer func() {
		if r := recover(); r != nil {
			h, issues = contract.DataHeader{}, []contract.Issue{{Msg: fmt.Sprintf("checking the data's headers: internal error: %v", r)}}
		}
	}()
	return k.Headers(ctx, cfg, up)
}
