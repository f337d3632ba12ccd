package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/biopipe/biopipe/contract"
	"github.com/biopipe/biopipe/workflows"
)

func newSubmitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "submit --slurm FILE|WORKFLOW",
		Short: "Submit a pipeline (one job per stage, afterok chains) or a workflow (one job array) to Slurm",
		Long: `Writes sbatch scripts under WORKDIR/slurm/<id>/ and submits them. A pipeline becomes one job per
stage, each waiting (--dependency=afterok) for the jobs of its input stages, and a last job that
writes the complete run manifest; a workflow becomes one job array (a task per point) and a last
job that writes the results table. A stage's resources: block (cpus, mem, time, gpus, partition,
account, qos) and a workflow's slurm: defaults become #SBATCH options. The work dir must be on a
file system every node sees at the same path: cache hits work across nodes, and an artifact is
written under a lock and renamed into place. Follow the jobs with biopipe status.`,
		Example: `  biopipe submit --slurm configs/quickstart.yaml --workdir /shared/bp
  biopipe submit --slurm configs/quickstart-sweep.yaml --workdir /shared/bp --jobs 3
  biopipe submit --slurm --dry-run configs/quickstart.yaml`,
		Args: cobra.ExactArgs(1),
	}
	f := cmd.Flags()
	f.Bool("slurm", false, "submit to Slurm (the only batch system so far; required)")
	f.Bool("dry-run", false, "print the sbatch scripts and the submit script; submit nothing")
	f.String("workdir", "", "shared work dir (default: .biopipe beside FILE)")
	f.Int("jobs", 0, "a workflow: at most this many array tasks at once (0: no limit)")
	f.String("biopipe", "", "path of the biopipe binary on the compute nodes (default: this one)")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		v := newViper(cmd)
		if !v.GetBool("slurm") {
			return usageError{fmt.Errorf("name the batch system: biopipe submit --slurm %s", args[0])}
		}
		opts := workflows.SubmitOptions{WorkDir: v.GetString("workdir"), Binary: v.GetString("biopipe"), Jobs: v.GetInt("jobs")}
		var sub *workflows.Submission
		if workflows.IsWorkflow(args[0]) {
			w, err := workflows.Load(args[0], contract.Default)
			if err != nil {
				return err
			}
			if sub, err = workflows.WorkflowJobs(w, opts); err != nil {
				return err
			}
		} else {
			plan, err := loadPlan(args[0], nil)
			if err != nil {
				return err
			}
			if sub, err = workflows.PipelineJobs(plan, args[0], opts); err != nil {
				return err
			}
		}
		out := cmd.OutOrStdout()
		if v.GetBool("dry-run") {
			fmt.Fprint(out, sub.Scripts())
			return nil
		}
		if err := sub.Submit(cmd.Context()); err != nil {
			return err
		}
		fmt.Fprintf(out, "submitted %s (%s %s) to Slurm:\n", sub.ID, sub.Kind, sub.Name)
		for _, j := range sub.Jobs {
			fmt.Fprintf(out, "  job %-10s %s\n", j.ID, j.Name)
		}
		fmt.Fprintf(out, "follow it: biopipe status %s --workdir %s\n", sub.ID, sub.WorkDir)
		return nil
	}
	return cmd
}
