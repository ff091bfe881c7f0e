"""The AMI registry: baked images published to git repositories, found by name, search or fingerprint.

Public API:
- entry_for_image(session, image_id, name=) -> AmiEntry: what `publish` writes, read from the image's tags.
- publish(source, entry) -> Published; update(); search(term, os=, arch=, pcluster_version=); resolve(ref).
- pull(ref, region, session) -> Pulled: the image id for the region, refused for another pcluster version
  or an image the account cannot launch.
- offer(session, fingerprint, pcluster_version) -> Offer | None: what `pctl create` uses instead of baking
  (once accepted by `pull` or `publish`) or suggests.
"""

from __future__ import annotations

from pctl.ami_registry.entry import AmiEntry
from pctl.ami_registry.images import Offer, Pulled, accept, accepted, entry_for_image, launchable, offer, pull
from pctl.ami_registry.store import FoundAmi, Published, publish, resolve, search, update

__all__ = ["AmiEntry", "FoundAmi", "Offer", "Published", "Pulled", "accept", "accepted", "entry_for_image",
           "launchable", "offer", "publish", "pull", "resolve", "search", "update"]
