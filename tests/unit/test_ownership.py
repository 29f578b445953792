"""One ownership rule for runs, schedules and drivers: the controller reference names the owner's uid."""

from __future__ import annotations

from typing import Any

import pytest

from retrodiction.api.children import controlling_run_uid, owned_by, owner_reference
from retrodiction.controller.schedule_runs import owned_by_schedule
from retrodiction.identity import API_VERSION, SCHEDULE_KIND, TRAINING_KIND
from retrodiction.ownership import NotOwnedError, controlled_by, controller_uid, require_controlled_by

RUN = {"name": "nightly", "namespace": "team", "uid": "run-uid"}


def _with_refs(*refs: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "ConfigMap", "metadata": {"name": "x", "ownerReferences": list(refs)}}


def _ref(
    uid: str, *, kind: str = TRAINING_KIND, controller: bool | None = True, api: str = API_VERSION
) -> dict[str, Any]:
    ref: dict[str, Any] = {"apiVersion": api, "kind": kind, "name": "n", "uid": uid}
    if controller is not None:
        ref["controller"] = controller
    return ref


def test_an_object_is_owned_through_its_controller_reference() -> None:
    obj = {"metadata": {"ownerReferences": [owner_reference(RUN)]}}
    assert controlled_by(obj, "run-uid")
    require_controlled_by(obj, "run-uid")
    assert controlling_run_uid(obj) == "run-uid"
    assert owned_by(obj, "run-uid")


@pytest.mark.parametrize("controller", [False, None])
def test_an_owner_reference_that_is_not_the_controller_gives_no_ownership(controller: bool | None) -> None:
    # Anyone who can edit an object can add a plain ownerReference; only the controller reference counts.
    obj = _with_refs(_ref("run-uid", controller=controller))
    assert not controlled_by(obj, "run-uid")
    assert controlling_run_uid(obj) is None
    assert not owned_by(obj, "run-uid")
    with pytest.raises(NotOwnedError, match="ConfigMap x exists and is not owned by this run"):
        require_controlled_by(obj, "run-uid")


def test_a_run_made_again_under_the_same_name_does_not_own_its_predecessors_objects() -> None:
    obj = _with_refs(_ref("old-uid"))
    assert not controlled_by(obj, "new-uid")
    assert not owned_by(obj, "new-uid")


def test_the_controlling_run_is_only_a_retrodiction_training_of_this_group() -> None:
    assert controlling_run_uid(_with_refs(_ref("u", kind=SCHEDULE_KIND))) is None
    assert controlling_run_uid(_with_refs(_ref("u", api="other.example.com/v1"))) is None
    # An object made under an older version of the API is still the run's.
    assert controlling_run_uid(_with_refs(_ref("u", api="training.retrodiction.dev/v1alpha0"))) == "u"
    assert controller_uid({"metadata": {}}, TRAINING_KIND) is None
    assert controller_uid(_with_refs(_ref("")), TRAINING_KIND) is None


def test_a_schedule_owns_only_the_runs_it_controls() -> None:
    assert owned_by_schedule(_with_refs(_ref("sched", kind=SCHEDULE_KIND)), "sched")
    assert not owned_by_schedule(_with_refs(_ref("sched", kind=SCHEDULE_KIND, controller=False)), "sched")
    assert not owned_by_schedule(_with_refs(_ref("other", kind=SCHEDULE_KIND)), "sched")


def test_a_local_run_without_a_uid_reads_every_object() -> None:
    assert owned_by(_with_refs(), None)


def test_an_owner_without_a_uid_cannot_own_anything() -> None:
    with pytest.raises(ValueError, match="RetrodictionTraining metadata has no uid"):
        owner_reference({"name": "n", "namespace": "team"})
