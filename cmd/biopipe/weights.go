package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"

	"github.com/biopipe/biopipe/io/weights"
	"github.com/biopipe/biopipe/models"
)

func newWeightsCmd() *cobra.Command {
	var (
		family, input, layout string
		classes               int
		params, maps, exclude []string
	)
	cmd := &cobra.Command{
		Use:   "weights FILE",
		Short: "List the tensors of a safetensors or ONNX file; with --model, dry-run its import (mapping, conversions, what stays fresh)",
		Example: `  biopipe weights model.safetensors
  biopipe weights model.onnx --model cnn --input 8,8,1 --classes 10 --param channels=[32,64] --param global_pool=flatten --param hidden=[64]
  biopipe weights model.safetensors --model mlp --input 30 --classes 2 --map fc1=hidden_0 --map fc2=output`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			f, err := weights.Read(args[0])
			if err != nil {
				return err
			}
			if family == "" {
				return listTensors(w, f)
			}
			shape, err := parseInts(input)
			if err != nil || len(shape) == 0 {
				return fmt.Errorf("--input: want the shape of one example, e.g. 8,8,1 or 30, got %q", input)
			}
			p := map[string]any{}
			for _, kv := range params {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--param %q: want NAME=VALUE", kv)
				}
				var val any
				if err := yaml.Unmarshal([]byte(v), &val); err != nil {
					return fmt.Errorf("--param %s: %w", k, err)
				}
				p[k] = val
			}
			pre := &models.Pretrained{Path: args[0], Exclude: exclude, Layout: layout}
			for _, kv := range maps {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					return fmt.Errorf("--map %q: want SOURCE=MODEL_LAYER", kv)
				}
				if pre.Map == nil {
					pre.Map = map[string]string{}
				}
				pre.Map[k] = v
			}
			task, names := models.Regression, []string(nil)
			if classes > 0 {
				task = models.Classification
				for i := range classes {
					names = append(names, strconv.Itoa(i))
				}
			}
			_, rep, err := models.Prepare(models.TrainOptions{Family: family, Params: p, Task: task, Classes: names, Pretrained: pre}, shape)
			if err != nil {
				return err
			}
			return showImport(w, rep)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&family, "model", "", "dry-run the import into this model family (needs --input)")
	fl.StringVar(&input, "input", "", "shape of one example, channels last: 8,8,1 (image), 30 (table)")
	fl.IntVar(&classes, "classes", 0, "number of classes (0: regression)")
	fl.StringArrayVar(&params, "param", nil, "family hyper-parameter NAME=VALUE (YAML value), repeatable")
	fl.StringArrayVar(&maps, "map", nil, "SOURCE=MODEL_LAYER pairing (source layer or tensor, model layer or variable), repeatable")
	fl.StringArrayVar(&exclude, "exclude", nil, "source name prefix to leave out of the inferred pairing, repeatable")
	fl.StringVar(&layout, "layout", models.LayoutPyTorch, "safetensors layout: pytorch or native")
	return cmd
}

func listTensors(w io.Writer, f *weights.File) error {
	fmt.Fprintf(w, "%s: %s, %d tensors\n", f.Path, f.Format, len(f.Tensors))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENSOR\tDTYPE\tSHAPE\tUSED BY")
	total := 0
	for _, t := range f.Tensors {
		used := t.Op
		if t.Layout != "" && t.Layout != weights.LayoutVector {
			used += " (" + t.Layout + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%v\t%s\n", t.Name, t.DType, t.Shape, used)
		total += t.Size()
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%d values\n", total)
	return nil
}

func showImport(w io.Writer, rep *models.InitReport) error {
	fmt.Fprintf(w, "dry run: %d tensors would load, %d variables stay fresh, %d tensors unused\n", len(rep.Mapping), len(rep.Fresh), len(rep.Unused))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tSHAPE\t->\tMODEL VARIABLE\tSHAPE\tCONVERSION")
	for _, m := range rep.Mapping {
		fmt.Fprintf(tw, "%s\t%v\t->\t%s\t%v\t%s\n", m.Source, m.SourceShape, m.Target, m.Shape, m.Convert)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, f := range rep.Fresh {
		fmt.Fprintf(w, "fresh: %s\n", f)
	}
	for _, u := range rep.Unused {
		fmt.Fprintf(w, "unused: %s\n", u)
	}
	return nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q", p)
		}
		out = append(out, n)
	}
	return out, nil
}
