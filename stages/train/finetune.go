package train

import (
	"fmt"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
)

// fineTuning reads the pretrained: block, freeze and layer_lr.
func fineTuning(cfg contract.Config) (*models.Pretrained, models.FineTune, error) {
	ft := models.FineTune{Freeze: cfg.Strings(FieldFreeze)}
	for k, v := range cfg.MapOf(FieldLayerLR) {
		var m float64
		switch x := v.(type) {
		case int:
			m = float64(x)
		case float64:
			m = x
		default:
			return nil, ft, fmt.Errorf("field %q: %q: want a number, got %v", FieldLayerLR, k, v)
		}
		if ft.LayerLR == nil {
			ft.LayerLR = map[string]float64{}
		}
		ft.LayerLR[k] = m
	}
	pc := cfg.Object(FieldPretrained)
	if pc.String(FieldPath) == "" {
		if len(pc.MapOf(FieldMap)) > 0 || len(pc.Strings(FieldExclude)) > 0 {
			return nil, ft, fmt.Errorf("field %q: map and exclude need a path", FieldPretrained)
		}
		return nil, ft, nil
	}
	p := &models.Pretrained{Path: pc.String(FieldPath), Exclude: pc.Strings(FieldExclude), Layout: pc.String(FieldLayout)}
	for k, v := range pc.MapOf(FieldMap) {
		s, ok := v.(string)
		if !ok {
			return nil, ft, fmt.Errorf("field %q: map: %q: want a model layer or variable name, got %v", FieldPretrained, k, v)
		}
		if p.Map == nil {
			p.Map = map[string]string{}
		}
		p.Map[k] = s
	}
	return p, ft, nil
}
