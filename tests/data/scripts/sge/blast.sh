#!/bin/bash
#$ -N blast
#$ -cwd
#$ -pe smp 8
#$ -l h_rt=04:00:00,h_vmem=4G
#$ -q all.q
module load blast+/2.14.0 java/17
blastn -query q.fa -db nt
