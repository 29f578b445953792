"""What the operator tells a run's driver, through the driver pod's environment (RETRODICTION_*)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from retrodiction.api.policy import AdminPolicy


class DriverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RETRODICTION_", extra="ignore", frozen=True)

    run_uid: str | None = Field(
        default=None, description="The uid of the run this driver was made for; another run of that name is not it."
    )
    policy: AdminPolicy | None = Field(default=None, description="The admin policy (JSON); none on a laptop.")
    status_interval_seconds: float = Field(default=5.0, gt=0, description="At most one progress report this often.")
    cluster_startup_timeout_seconds: float = Field(default=600.0, gt=0)
    local_max_workers: int = Field(default=2, ge=1, description="Upper bound for spec.dask.mode=local runs.")
    driver_metrics_port: int = Field(default=0, ge=0, le=65535, description="Batch metrics endpoint; 0: none.")
    bind_address: str = Field(default="0.0.0.0")
