"""Containers (`software.containers`), on ParallelCluster and PCS alike.

- `recipe`: a container entry -> a Spack environment, a multi-stage Dockerfile (the layout of
  `spack containerize`: a build stage on Spack's own image, a small run stage with the view) and an
  Apptainer definition, all from Jinja templates.
- `engine`: build the Dockerfile with podman or Docker where one runs; push to ECR (repository with
  scan-on-push and encryption, login through boto3's ECR token).
- `modules`: what a node needs: Apptainer, the image pulled once onto the shared volume, and one Lmod
  module per package whose command runs inside the container (`apptainer exec` with the shared
  volumes bound), so `module load samtools; samtools` works as with Spack.
"""
