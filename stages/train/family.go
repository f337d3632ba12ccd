package train

import (
	"fmt"
	"slices"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/models"
)

// FieldsFor is the train kind's config spec as seen by one model family: the stage's own
// fields followed by that family's params exactly as the family declares them (with their
// defaults). It is what `biopipe stages train --model NAME`, the generated docs and shell
// completion show; validation uses Fields (every family's params), which accepts the same
// configs for that family. A miss lists the valid family names.
func FieldsFor(family string) ([]contract.Field, error) {
	fam, err := models.Get(family)
	if err != nil {
		return nil, err
	}
	fields := baseFields()
	for i := range fields {
		if fields[i].Name == FieldModel {
			fields[i].Doc = fmt.Sprintf("model family: %s (%s)", fam.Name, fam.Doc)
			fields[i].Enum = []string{fam.Name}
		}
	}
	for _, p := range fam.Params {
		f := p
		f.Enum = slices.Clone(p.Enum)
		fields = append(fields, f)
	}
	return fields, nil
}

// KindFor returns a copy of the registered train kind documented for one model family (see
// FieldsFor): its description names the family, and its example uses it.
func KindFor(reg *contract.Registry, family string) (*contract.Kind, error) {
	k, err := reg.Get(KindName)
	if err != nil {
		return nil, err
	}
	fields, err := FieldsFor(family)
	if err != nil {
		return nil, err
	}
	fam, _ := models.Get(family)
	c := *k
	c.Doc = fmt.Sprintf("%s (model: %s — %s)", k.Doc, fam.Name, fam.Doc)
	c.Fields = fields
	c.Example = fmt.Sprintf("- id: train\n  kind: train\n  inputs: [split]\n  with:\n    model: %s\n    epochs: 20\n", fam.Name)
	return &c, nil
}

// OwnFields are the train kind's own fields (model, epochs, optimizer, ...), without any
// family's params: the generated docs list them once on the train page and each family's
// params on its own page.
func OwnFields() []contract.Field { return baseFields() }
