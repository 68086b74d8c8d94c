"""The ports and the configuration files of the standalone server (ours, minimal), written at start time."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devstack.paths import env_port

CONTEXT_PATH = "/dolphinscheduler"
ADMIN_USER = "admin"
ADMIN_PASSWORD = "dolphinscheduler123"  # noqa: S105 - the well-known seed password of a fresh DS
DEFAULT_GATEWAY_TOKEN = "devstack-ds-gateway-token"  # noqa: S105 - local test server only


@dataclass(frozen=True)
class DolphinPorts:
    """TCP ports of the standalone server (non-default defaults, to avoid clashes)."""

    rest: int = 22345
    gateway: int = 22333
    master: int = 22678
    worker: int = 22234
    alert: int = 22052

    @classmethod
    def from_env(cls) -> DolphinPorts:
        base = cls()
        return cls(
            rest=env_port("DEVSTACK_DS_REST_PORT", base.rest),
            gateway=env_port("DEVSTACK_DS_GATEWAY_PORT", base.gateway),
            master=env_port("DEVSTACK_DS_MASTER_PORT", base.master),
            worker=env_port("DEVSTACK_DS_WORKER_PORT", base.worker),
            alert=env_port("DEVSTACK_DS_ALERT_PORT", base.alert),
        )

    def items(self) -> list[tuple[str, int]]:
        return [
            ("rest", self.rest),
            ("gateway", self.gateway),
            ("master", self.master),
            ("worker", self.worker),
            ("alert", self.alert),
        ]


def _application_yaml(*, ports: DolphinPorts, token: str, schema: Path, host: str) -> str:
    return f"""\
# Written by devstack (tools/devstack/src/devstack/dolphin/config_files.py); only what the standalone server needs.
spring:
  profiles:
    active: h2
  jackson:
    time-zone: UTC
    date-format: "yyyy-MM-dd HH:mm:ss"
  datasource:
    driver-class-name: org.h2.Driver
    url: "jdbc:h2:mem:dolphinscheduler;MODE=MySQL;DB_CLOSE_DELAY=-1;DATABASE_TO_LOWER=true"
    username: sa
    password: ""
  sql:
    init:
      schema-locations: "file:{schema}"
  messages:
    basename: i18n/messages
  mvc:
    pathmatch:
      matching-strategy: ANT_PATH_MATCHER
  cloud:
    discovery:
      client:
        composite-indicator:
          enabled: false

mybatis-plus:
  mapper-locations: classpath:org/apache/dolphinscheduler/dao/mapper/*Mapper.xml
  type-aliases-package: org.apache.dolphinscheduler.dao.entity
  configuration:
    cache-enabled: false
    call-setters-on-nulls: true
    map-underscore-to-camel-case: true
    jdbc-type-for-null: "NULL"
  global-config:
    db-config:
      id-type: auto
    banner: false

registry:
  type: jdbc

security:
  authentication:
    type: PASSWORD

server:
  address: {host}
  port: {ports.rest}
  servlet:
    context-path: {CONTEXT_PATH}/

management:
  endpoints:
    web:
      exposure:
        include: health
  endpoint:
    health:
      enabled: true
      show-details: always
  health:
    defaults:
      enabled: false
    db:
      enabled: true

# the meter module (MetricsProvider, used by the registry clients) is only wired when enabled
metrics:
  enabled: true

master:
  listen-port: {ports.master}
  server-load-protection:
    enabled: false

worker:
  listen-port: {ports.worker}
  exec-threads: 4
  server-load-protection:
    enabled: false
  tenant-config:
    auto-create-tenant-enabled: false
    distributed-tenant: false
    default-tenant-enabled: true

alert:
  port: {ports.alert}

api:
  audit-enable: false
  python-gateway:
    enabled: true
    auth-token: "{token}"
    gateway-server-address: {host}
    gateway-server-port: {ports.gateway}
"""


def _logback_xml(log_dir: Path) -> str:
    # The sifting appender with DolphinScheduler's task-log filter/discriminator writes the per-task
    # log files that GET /log/detail serves.  Its name must be TASKLOGFILE: the worker looks the
    # appender up by that name to find the log base directory, and refuses tasks without it.
    return f"""\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Written by devstack (tools/devstack/src/devstack/dolphin/config_files.py). -->
<configuration>
  <property name="log.base" value="{log_dir}"/>
  <property scope="context" name="log.base.ctx" value="{log_dir}"/>
  <appender name="SERVER" class="ch.qos.logback.core.FileAppender">
    <file>{log_dir}/dolphinscheduler-standalone.log</file>
    <append>false</append>
    <encoder>
      <pattern>%d{{yyyy-MM-dd HH:mm:ss.SSS}} %-5level [%thread] %logger{{20}} - %msg%n</pattern>
      <charset>UTF-8</charset>
    </encoder>
  </appender>
  <appender name="TASKLOGFILE" class="ch.qos.logback.classic.sift.SiftingAppender">
    <filter class="org.apache.dolphinscheduler.plugin.task.api.log.TaskLogFilter"/>
    <Discriminator class="org.apache.dolphinscheduler.plugin.task.api.log.TaskLogDiscriminator">
      <key>taskInstanceLogFullPath</key>
      <logBase>{log_dir}</logBase>
    </Discriminator>
    <sift>
      <appender name="TASK-${{taskInstanceLogFullPath}}" class="ch.qos.logback.core.FileAppender">
        <file>${{taskInstanceLogFullPath}}</file>
        <append>true</append>
        <encoder>
          <pattern>%d{{yyyy-MM-dd HH:mm:ss.SSS}} %-5level - %msg%n</pattern>
          <charset>UTF-8</charset>
        </encoder>
      </appender>
    </sift>
  </appender>
  <logger name="org.apache.zookeeper" level="WARN"/>
  <logger name="org.apache.hadoop" level="WARN"/>
  <root level="INFO">
    <appender-ref ref="SERVER"/>
    <appender-ref ref="TASKLOGFILE"/>
  </root>
</configuration>
"""


# Task types shown by the UI's task palette (``task-type-config.yaml``, ``@PropertySource``).
_TASK_TYPES = """\
task:
  universal: [SHELL, PYTHON, SQL, HTTP]
  cloud: [K8S]
  logic: [SUB_WORKFLOW, DEPENDENT, CONDITIONS, SWITCH]
  dataIntegration: [DATAX]
  dataQuality: [DATA_QUALITY]
  machineLearning: [MLFLOW]
  other: [PIGEON]
"""


_DYNAMIC_TASK_TYPES = """\
dynamic-task:
  universal:
    - {name: SHELL, icon: shell-icon.png, hover: shell-hover.png}
"""
