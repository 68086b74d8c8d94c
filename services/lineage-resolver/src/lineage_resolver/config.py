"""Settings of the lineage-resolver (env prefix ``LINEAGE_``; ``KAFKA_BOOTSTRAP_SERVERS`` is shared).

The OpenLineage job → task mapping comes from ``LINEAGE_OPENLINEAGE`` (JSON) or from a JSON file named by
``LINEAGE_OPENLINEAGE_CONFIG_FILE`` (not both); it is validated at start, so a bad mapping fails the start-up.
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import SettingsConfigDict

from common.migrations import migrations_of
from common.settings import ServiceSettings
from lineage_resolver.domain import OpenLineageConfig, ResolverOptions

MIGRATIONS = migrations_of("lineage_resolver")


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LINEAGE_", extra="ignore", env_file=None, populate_by_name=True)

    service_name: str = "lineage-resolver"
    db_schema: str = Field(default="lineage", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    #: table→table lineage hops that count as task dependencies (see the domain docs; 0 = never)
    external_lineage_hops: int = Field(default=0, ge=0, le=16)
    check_cycles: bool = True
    #: above this many advisory-lock keys one change locks the whole lineage store instead (see ``locks``)
    max_lock_keys: int = Field(default=256, ge=1, le=4096)

    #: seed rules and translation options; the job → task rules people manage are data (``openlineage_jobs``)
    openlineage: OpenLineageConfig = Field(default_factory=OpenLineageConfig)
    #: recently seen OpenLineage jobs no rule maps, kept with their pending lineage (the least recent go first)
    unmapped_jobs_kept: int = Field(default=500, ge=1, le=100_000)
    openlineage_config_file: Path | None = None

    @model_validator(mode="after")
    def _load_openlineage_file(self) -> Settings:
        if self.openlineage_config_file is None:
            return self
        if self.openlineage != OpenLineageConfig():
            raise ValueError("set either LINEAGE_OPENLINEAGE or LINEAGE_OPENLINEAGE_CONFIG_FILE, not both")
        try:
            raw = json.loads(self.openlineage_config_file.read_text(encoding="utf-8"))
            self.openlineage = OpenLineageConfig.model_validate(raw)
        except (OSError, ValueError, ValidationError) as exc:
            raise ValueError(f"cannot load OpenLineage config {self.openlineage_config_file}: {exc}") from exc
        return self

    def resolver_options(self) -> ResolverOptions:
        return ResolverOptions(external_lineage_hops=self.external_lineage_hops, check_cycles=self.check_cycles)
