#!/bin/bash
#SBATCH -J rnaseq
#SBATCH -n 1
#SBATCH -c 16
#SBATCH --mem-per-cpu=4G
#SBATCH -t 12:00:00
#SBATCH -p bio
# an old load that purge forgets:
module load intel/2019
module purge
ml STAR/2.7.10b-GCC-11.3.0 SAMtools/1.16.1-GCC-11.3.0 salmon python3/3.11
ml -python3
ml av
module load matlab/R2023a && export MATLAB_PREFDIR=/tmp
STAR --runThreadN 16 --genomeDir ref
