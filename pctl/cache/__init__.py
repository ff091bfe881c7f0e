"""The account-wide Spack binary cache in S3 (issue 15): where it lives, its signing key, what it holds.

One cache per account and region, in pctl's encrypted bucket under ``spack-cache/v<spack version>/`` (a
Spack mirror, ``s3://``). Every install pushes what it built, signed with a GPG key pctl keeps in AWS
Secrets Manager; every install lists this cache before the public one. See docs/cache.md.

Modules: ``location`` (URLs, prefixes, IAM scoping), ``keys`` (the signing key), ``index`` (list and
prune from the buildcache index), ``warm`` (fill the cache on a temporary builder).
"""
