"""AWS Parallel Computing Service (PCS): managed Slurm whose compute node groups are EC2 instances in
the user's VPC. Not ParallelCluster on EKS.

- `limits`: what PCS accepts (Slurm versions, names, cluster sizes), checked against botocore's model.
- `plan`: a template -> the ordered `pcs` requests (`{operation, params}`) that create the cluster:
  one compute node group per queue and vCPU group, a login node group, one PCS queue per template queue.
- `executor`: applies a plan through a boto3 `pcs` client (idempotent, waits for ACTIVE, resumes after
  a failure), reports PCS's own states, and deletes in dependency order (queues, node groups, cluster).

Plain Python, no Prefect: `tasks/pcs.py` wraps these as lifecycle steps.
"""
