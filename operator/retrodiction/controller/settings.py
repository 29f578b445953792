"""The operator's settings: one object, read once from the environment (RETRODICTION_*), passed everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from retrodiction import __version__
from retrodiction.api.policy import AdminPolicy


def _split(value: object) -> object:
    # "a,b" from a Helm value is friendlier than JSON for a list of namespaces.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETRODICTION_", extra="ignore", frozen=True)

    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Namespaces to watch; empty means the whole cluster."
    )
    worker_image: str = Field(
        default=f"ghcr.io/retrodiction/retrodiction-worker:{__version__}",
        description="Image of each run's driver and Dask scheduler and workers when spec.dask.image is not set.",
    )
    policy: AdminPolicy = Field(
        default_factory=AdminPolicy, description="What tenants may ask for (JSON; the chart's `policy` values)."
    )
    driver_cluster_role: str = Field(
        default="retrodiction-driver",
        description="The ClusterRole each run's driver is bound to in its namespace (the chart installs it).",
    )
    status_interval_seconds: float = Field(default=5.0, gt=0, description="At most one progress patch this often.")
    cluster_startup_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="How long a run's driver and Dask cluster may take to start before the run fails.",
    )
    keep_clusters: bool = Field(default=False, description="Keep each run's DaskCluster after it finishes.")
    local_max_workers: int = Field(default=2, ge=1, description="Upper bound for spec.dask.mode=local runs.")
    bind_address: str = Field(default="0.0.0.0", description="Address the health and metrics endpoints listen on.")
    health_port: int = Field(default=8080, ge=0, le=65535)
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    peering: str | None = Field(
        default=None,
        description="Kopf peering name for a standby replica: the ClusterKopfPeering (or, when watching namespaces, "
        "the KopfPeering in each) that replicas announce themselves in. The highest priority works, the rest wait.",
    )
    # Kopf freezes every replica when two share a priority, and the pods of one Deployment share their
    # environment: unset, each process draws its own at random.
    peering_priority: int | None = Field(default=None, ge=0, description="Kopf peering priority; unset: random.")
    peering_lifetime_seconds: int = Field(
        default=60, ge=5, description="How long a silent peer (a crashed replica) holds off a standby."
    )

    clock_file: Path | None = Field(
        default=None,
        description="Testing only: read the current time (ISO 8601) from this file instead of the system clock.",
    )

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        return _split(value)
