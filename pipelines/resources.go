package pipelines

import "github.com/biopipe/biopipe/contract"

// Resource field names of a stage's resources: block (and of a workflow's slurm: defaults).
const (
	ResCPUs      = "cpus"
	ResMem       = "mem"
	ResTime      = "time"
	ResGPUs      = "gpus"
	ResPartition = "partition"
	ResAccount   = "account"
	ResQOS       = "qos"
)

// ResourceFields declares the resources: block a stage may carry: what a batch job running
// it asks the scheduler for. Local runs ignore it; it is not part of the cache key.
var ResourceFields = []contract.Field{
	{Name: ResCPUs, Type: contract.Int, Min: contract.Bound(1), Doc: "CPU cores (sbatch --cpus-per-task)"},
	{Name: ResMem, Type: contract.String, Doc: "memory (sbatch --mem), e.g. 4G or 500M"},
	{Name: ResTime, Type: contract.String, Doc: "wall-clock limit (sbatch --time), e.g. 30:00, 2:00:00, 1-00:00:00"},
	{Name: ResGPUs, Type: contract.Int, Min: contract.Bound(0), Doc: "GPUs (sbatch --gres=gpu:N)"},
	{Name: ResPartition, Type: contract.String, Doc: "partition (sbatch --partition)"},
	{Name: ResAccount, Type: contract.String, Doc: "account to charge (sbatch --account)"},
	{Name: ResQOS, Type: contract.String, Doc: "quality of service (sbatch --qos)"},
}
