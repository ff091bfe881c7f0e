"""The template library: every template is documented, valid, and renders to a config pcluster accepts."""

from __future__ import annotations

import json

import pytest

from pctl import library
from pctl.model.template import json_schema
from pctl.render import render
from pctl.validation import validate_file
from tests.conftest import REPO

REQUIRED = {"minimal", "starter", "bioinformatics", "machine-learning", "computational-chemistry", "spot-example"}
MODELINE = "# yaml-language-server: $schema=../docs/template.schema.json"


def test_library_has_the_required_templates():
    assert set(library.names()) >= REQUIRED


@pytest.mark.parametrize("name", sorted(library.names()))
def test_library_template_is_documented_valid_and_renders(name, cluster_schema):
    path = library.path_of(name)
    assert path.read_text().splitlines()[0] == MODELINE
    report, loaded = validate_file(path)
    assert report.errors == [], report.render()
    t = loaded.template
    assert t.description and t.tags
    cfg = cluster_schema(render(t).config_text, t.cluster.name)
    assert len(cfg["Scheduling"]["SlurmQueues"]) == len(t.compute.queues)


def test_library_covers_gpu_efa_and_spot():
    def template(name):
        return validate_file(library.path_of(name))[1].template

    from pctl import instance_types

    ml = template("machine-learning")
    assert any((instance_types.info(it) or {}).get("gpus") for q in ml.compute.queues for it in q.instance_types)
    chem = template("computational-chemistry")
    efa_queues = [q for q in chem.compute.queues if q.efa]
    assert efa_queues and all(instance_types.info(it)["efa"] for q in efa_queues for it in q.instance_types)
    assert {"gromacs", "lammps", "quantum-espresso"} <= {s.split("@")[0] for s in chem.software.spack_packages}
    spot = template("spot-example")
    assert any(q.capacity_type == "spot" and len(q.instance_types) > 1 for q in spot.compute.queues)


def test_schema_document_is_up_to_date():
    """docs/template.schema.json is what `pctl schema -o docs/template.schema.json` writes."""
    on_disk = (REPO / "docs" / "template.schema.json").read_text()
    assert on_disk == json.dumps(json_schema(), indent=2) + "\n", "run: pctl schema -o docs/template.schema.json"
