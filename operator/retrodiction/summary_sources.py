"""Where `retrodiction report` and `retrodiction diff` read a summary: a file or any fsspec URI, or a run in the
cluster (`rt/NAME`, `NAMESPACE/NAME`) through the user's kubeconfig, from the ConfigMaps its driver wrote
(reassembled when compressed or split) or from its `spec.output.uri`; and a schedule's history (`rs/NAME`).

What a run holds is written by whoever can write in its namespace, so every read is capped (an object, the
summary once decompressed) and a ConfigMap counts only when the run controls it. A URI named by a run is read with
the reader's own credentials from the environment, never with storage options taken from the run, and never as a
path on the reader's machine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from retrodiction.api.children import schedule_selector, scheduled_time
from retrodiction.api.history import ScheduleHistory, slot_of, with_slot
from retrodiction.api.summary import RetrodictionSummary, SummaryError, parse_summary
from retrodiction.bounded import CorruptError, TooLargeError, gunzip_at_most, read_at_most
from retrodiction.driver.history_configmap import history_configmap_name, history_in
from retrodiction.driver.summary_configmaps import MAX_SUMMARY_BYTES, read_summary_configmaps, summary_index
from retrodiction.identity import SCHEDULE_KIND, run_reference_name
from retrodiction.ownership import controlled_by, controller_uid

if TYPE_CHECKING:  # the Kubernetes client loads only when a source is in the cluster
    from retrodiction.cluster_reader import KubeClusterReader

# A ConfigMap or run as the API server sends it: etcd refuses objects past about 1.5 MiB.
MAX_OBJECT_BYTES: Final = 4 * 1024 * 1024
GZIP_MAGIC: Final = b"\x1f\x8b"

_NAMESPACED_RUN = re.compile(r"^(?P<namespace>[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)/(?P<name>[a-z0-9][-a-z0-9.]*)$")
_SCHEDULE = re.compile(r"^(rs|retrodictionschedules?(\.training\.retrodiction\.dev)?)/(?P<name>[a-z0-9][-a-z0-9.]*)$")


_UNFINISHED = ("Pending", "Provisioning", "Running", "Suspended")


class SourceError(ValueError):
    """A source that gives no summary: one line naming the source and what is wrong."""


@dataclass(frozen=True)
class RunSource:
    """A RetrodictionTraining in the cluster; `namespace` None means the kubeconfig context's."""

    name: str
    namespace: str | None = None

    def describe(self, namespace: str) -> str:
        return f"rt/{self.name} in namespace {namespace}"


@dataclass(frozen=True)
class ScheduleSource:
    """A RetrodictionSchedule in the cluster (`rs/NAME`): its history; `namespace` None means the context's."""

    name: str
    namespace: str | None = None

    def describe(self, namespace: str) -> str:
        return f"rs/{self.name} in namespace {namespace}"


def parse_source(text: str, *, exists: bool) -> RunSource | ScheduleSource | str:
    """`rt/NAME` (or the resource's other names) and `NAMESPACE/NAME` name runs, `rs/NAME` a schedule (so runs
    in namespaces named rt or rs need `rt/NAME -n NAMESPACE`), unless `exists` says a file of that name is here: a
    local path wins. Anything else is a path or fsspec URI."""
    if exists:
        return text
    if (name := run_reference_name(text)) is not None:
        return RunSource(name)
    if match := _SCHEDULE.match(text):
        return ScheduleSource(match.group("name"))
    if (match := _NAMESPACED_RUN.match(text)) and not text.endswith((".json", ".gz")):
        return RunSource(match.group("name"), match.group("namespace"))
    return text


class ClusterReader(Protocol):
    """The two reads a run's summary needs; each returns None for an object that does not exist."""

    def run(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def configmap(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...


@dataclass(frozen=True)
class LoadedSummary:
    summary: RetrodictionSummary
    # Where it came from, for the notes: a path or URI, or "ConfigMap NAME (N parts)" of a run.
    origin: str
    # Set when the run did not succeed but stored what finished (a partial summary).
    warning: str | None = None


def read_summary_file(target: str, *, max_bytes: int = MAX_SUMMARY_BYTES) -> RetrodictionSummary:
    """A summary from a local path or fsspec URI, plain JSON or gzip, read and decompressed within `max_bytes`."""
    import fsspec

    try:
        with fsspec.open(target, "rb") as handle:
            blob = read_at_most(handle, max_bytes, "the file")
    except (FileNotFoundError, IsADirectoryError):
        raise SourceError(f"{target}: no such file") from None
    except TooLargeError as err:
        raise SourceError(f"{target}: {err}") from None
    except (OSError, ValueError, ImportError) as err:
        raise SourceError(f"{target}: cannot read it ({type(err).__name__}: {_line(err)})") from None
    return _parse(target, blob, max_bytes)


def read_run_summary(
    source: RunSource, namespace: str, cluster: ClusterReader, *, max_bytes: int = MAX_SUMMARY_BYTES
) -> LoadedSummary:
    """The summary a finished run stored: its ConfigMap(s), else its output URI."""
    where = source.describe(namespace)
    run = cluster.run(namespace, source.name)
    if run is None:
        raise SourceError(f"{where}: no such RetrodictionTraining")
    status = run.get("status") or {}
    phase = str(status.get("phase") or "Pending")
    if phase in _UNFINISHED:
        raise SourceError(f"{where}: the run is {phase}{_progress(status)}; its summary is stored when it ends")
    ref = status.get("summaryRef") or {}
    warning = None
    if phase != "Succeeded":
        why = status.get("reason") or "no reason given"
        if not ref:
            raise SourceError(f"{where}: the run {phase} ({why}) and stored no summary")
        warning = f"{where}: the run {phase} ({why}); this summary holds the batches that finished"
    reading = _RunReading(where, namespace, str((run.get("metadata") or {}).get("uid") or ""), cluster, max_bytes)
    if ref.get("configMap"):
        loaded = reading.from_configmaps(str(ref["configMap"]), fallback_uri=ref.get("uri"))
        if loaded is not None:
            return LoadedSummary(loaded[0], loaded[1], warning)
    if ref.get("uri"):
        uri = str(ref["uri"])
        return LoadedSummary(reading.from_uri(uri), uri, warning)
    raise SourceError(f"{where}: its status names no summary (status.summaryRef is empty)")


@dataclass(frozen=True)
class _RunReading:
    """The summary of one run (`where` names it in errors), whose ConfigMaps count only if `uid` controls them."""

    where: str
    namespace: str
    uid: str
    cluster: ClusterReader
    max_bytes: int

    def from_configmaps(self, name: str, *, fallback_uri: object) -> tuple[RetrodictionSummary, str] | None:
        """The summary and where it was, or None when the entry is gone and the run also wrote it to a URI."""
        entry = self._owned(name)
        if entry is None:
            if fallback_uri:
                return None
            raise SourceError(f"{self.where}: summary ConfigMap {name} is missing (deleted, or never written)")
        try:
            index = summary_index(entry)
        except ValueError as err:
            raise SourceError(f"{self.where}: {err}") from None
        parts = []
        for part in index.parts if index else []:
            configmap = self._owned(part)
            if configmap is None:
                raise SourceError(f"{self.where}: summary part {part} is missing")
            parts.append(configmap)
        try:
            summary = read_summary_configmaps([entry, *parts], name=name, max_bytes=self.max_bytes)
        except SummaryError as err:
            raise SourceError(f"{self.where}: ConfigMap {name} holds no valid summary: {_line(err)}") from None
        except ValueError as err:
            raise SourceError(f"{self.where}: {_line(err)}") from None
        return summary, f"ConfigMap {name}" + (f" ({len(parts)} parts)" if parts else "")

    def _owned(self, name: str) -> Mapping[str, Any] | None:
        configmap = self.cluster.configmap(self.namespace, name)
        if configmap is not None and not controlled_by(configmap, self.uid):
            raise SourceError(f"{self.where}: ConfigMap {name} is not this run's (its controller is not the run)")
        return configmap

    def from_uri(self, uri: str) -> RetrodictionSummary:
        import fsspec

        try:
            protocols = fsspec.core.url_to_fs(uri)[0].protocol
        except (ValueError, ImportError) as err:
            raise SourceError(f"{self.where}: cannot read its summary at {uri} ({_line(err)})") from None
        if {"file", "local"} & set((protocols,) if isinstance(protocols, str) else protocols):
            raise SourceError(f"{self.where}: its summary URI {uri} is a path on the machine that wrote it")
        try:
            return read_summary_file(uri, max_bytes=self.max_bytes)
        except SourceError as err:
            raise SourceError(f"{self.where}: {err}") from None


def _parse(what: str, blob: bytes, max_bytes: int) -> RetrodictionSummary:
    try:
        if blob.startswith(GZIP_MAGIC):
            blob = gunzip_at_most(blob, max_bytes, "the file")
        return parse_summary(blob)
    except (TooLargeError, CorruptError) as err:
        raise SourceError(f"{what}: {err}") from None
    except SummaryError as err:
        raise SourceError(f"{what}: {_line(err)}") from None


def _progress(status: Mapping[str, Any]) -> str:
    batches = status.get("batches") or {}
    if not batches.get("total"):
        return ""
    return f" ({batches.get('succeeded', 0)}/{batches['total']} batches)"


def _line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def load_summary(
    text: str,
    *,
    namespace: str | None = None,
    max_bytes: int = MAX_SUMMARY_BYTES,
    cluster: ClusterReader | None = None,
) -> LoadedSummary:
    """The summary SOURCE names (parse_source); a run is read with `cluster`, by default through the kubeconfig
    (or the pod's ServiceAccount), in `namespace` or else the run's own or the context's."""

    source = parse_source(text, exists=os.path.exists(text))
    if isinstance(source, str):
        return LoadedSummary(read_summary_file(source, max_bytes=max_bytes), source)
    from retrodiction.kube_client import context_namespace

    where = source.namespace or namespace or context_namespace()
    if isinstance(source, ScheduleSource):
        raise SourceError(f"{text}: a schedule has a history of runs, not one summary")
    return read_run_summary(source, where, cluster or _kube_reader(text), max_bytes=max_bytes)


class ScheduleReader(ClusterReader, Protocol):
    """ClusterReader, and the schedule itself and its runs (by label)."""

    def schedule(self, namespace: str, name: str) -> Mapping[str, Any] | None: ...

    def runs(self, namespace: str, selector: str) -> list[Mapping[str, Any]]: ...


def read_schedule_history(source: ScheduleSource, namespace: str, cluster: ScheduleReader) -> ScheduleHistory:
    """The schedule's history (its `<schedule>-history` ConfigMap, when the schedule controls it), with a failed
    slot added for each of its runs still listed that failed without writing one (a driver that never ran)."""
    where = source.describe(namespace)
    schedule = cluster.schedule(namespace, source.name)
    if schedule is None:
        raise SourceError(f"{where}: no such RetrodictionSchedule")
    uid = str((schedule.get("metadata") or {}).get("uid") or "")
    configmap = cluster.configmap(namespace, history_configmap_name(source.name))
    history = ScheduleHistory(schedule=source.name, schedule_uid=uid)
    if configmap is not None and controlled_by(configmap, uid):
        try:
            history = history_in(configmap)
        except ValueError as err:
            raise SourceError(f"{where}: {err}") from None
    recorded = {slot.run_uid for slot in history.slots}
    for run in cluster.runs(namespace, schedule_selector(source.name)):
        meta = run.get("metadata") or {}
        status = run.get("status") or {}
        if status.get("phase") != "Failed" or meta.get("uid") in recorded or controller_uid(run, SCHEDULE_KIND) != uid:
            continue
        moment = scheduled_time(run)
        if moment is None:
            continue
        reason = str(status.get("reason") or "") or None
        slot = slot_of(
            None,
            scheduled_time=moment,
            run=str(meta.get("name")),
            run_uid=str(meta.get("uid")),
            phase="Failed",
            reason=reason,
        )
        history = with_slot(history, slot)
    return history


def load_schedule_history(
    text: str, *, namespace: str | None = None, cluster: ScheduleReader | None = None
) -> tuple[ScheduleHistory, str] | None:
    """When SOURCE names a schedule (`rs/NAME`, and no file of that name is here): its history and a description
    of where it came from; None for any other source."""
    source = parse_source(text, exists=os.path.exists(text))
    if not isinstance(source, ScheduleSource):
        return None
    from retrodiction.kube_client import context_namespace

    where = source.namespace or namespace or context_namespace()
    history = read_schedule_history(source, where, cluster or _kube_reader(text))
    return history, f"history: ConfigMap {history_configmap_name(source.name)} in namespace {where}"


def _kube_reader(text: str) -> KubeClusterReader:
    """A reader with the pod's ServiceAccount inside a cluster, else the kubeconfig (KUBECONFIG or ~/.kube/config),
    made without touching the kubernetes package's global default configuration."""
    from kubernetes import client, config

    from retrodiction.cluster_reader import KubeClusterReader  # it imports this module: not at the top

    try:
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        return KubeClusterReader(client.ApiClient(configuration))
    except config.ConfigException:
        pass
    try:
        # KUBECONFIG as it is now: the kubernetes package reads its default once, when it is first imported.
        return KubeClusterReader(config.new_client_from_config(config_file=os.environ.get("KUBECONFIG")))
    except (config.ConfigException, OSError) as err:
        raise SourceError(f"{text}: no cluster to read it from: {_line(err)}") from None
