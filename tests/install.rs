//! `mesh.install`: the in-cluster operator's plan for kuard on 1.9.3, the
//! Helm charts' values and GitOps manifests for Bookinfo on 1.30.3, every
//! values key checked against the charts' own `values.yaml` (shared
//! folder), the gateway chart's pod labels against the Gateway's selector,
//! and the errors at their keys.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::{self, Sandbox, documents};

/// Builds `scenario` (a path) into `out/` of a new sandbox.
fn build(scenario: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["build", scenario, "--out", "out"])
        .expect_code(0);
    sandbox
}

/// Builds the scenario text `text` into `out/<name>` of a new sandbox.
fn build_text(text: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", text);
    sandbox
        .run(&["build", "s.toml", "--out", "out"])
        .expect_code(0);
    sandbox
}

/// One YAML document (a values file).
fn yaml(text: &str) -> Value {
    let mut docs = documents(text);
    assert_eq!(docs.len(), 1, "{text}");
    docs.remove(0)
}

/// The values files a build wrote, in file order: (release, values).
fn values_files(sandbox: &Sandbox, name: &str) -> Vec<(String, Value)> {
    let dir = sandbox.path().join(format!("out/{name}/install/helm"));
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("install/helm")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
        .iter()
        .map(|file| {
            let release = file
                .split_once('-')
                .and_then(|(_, rest)| rest.strip_suffix(".values.yaml"))
                .expect("NN-<release>.values.yaml")
                .to_owned();
            let text = sandbox.read(&format!("out/{name}/install/helm/{file}"));
            (release, yaml(&text))
        })
        .collect()
}

/// A Helm install with everything `[mesh]` can set, sidecars and Istio's
/// routing API with a gateway: base, istiod, gateway.
const HELM_SIDECAR: &str = r#"name = "helm-sidecar"
[mesh]
version = "1.30.3"
profile = "demo"
install = "helm"
hub = "registry.example.com/istio"
tag = "1.30.3-distroless"
revision = "canary"
[mesh.config]
access_log_file = "/dev/stdout"
outbound_traffic_policy = "REGISTRY_ONLY"
[namespace]
name = "shop"
[[services]]
name = "web"
port = 8080
  [services.versions.v1]
  image = "example.com/web:1"
[gateway]
[[gateway.routes]]
service = "web"
"#;

/// A Helm install in ambient mode: base, istiod, cni, ztunnel.
const HELM_AMBIENT: &str = r#"name = "helm-ambient"
[mesh]
version = "1.30.3"
profile = "ambient"
dataplane = "ambient"
install = "helm"
hub = "registry.example.com/istio"
revision = "stable"
[mesh.config]
outbound_traffic_policy = "ALLOW_ANY"
[namespace]
name = "shop"
injection = false
[[services]]
name = "web"
port = 8080
  [services.versions.v1]
  image = "example.com/web:1"
"#;

#[test]
fn bookinfo_on_helm_writes_a_values_file_per_chart_in_install_order_and_no_istio_operator() {
    let sandbox = build(&support::scenario("bookinfo-helm"));
    let out = sandbox.path().join("out/bookinfo-helm");
    assert!(
        !out.join("01-mesh.yaml").exists(),
        "no IstioOperator with Helm"
    );
    let values = values_files(&sandbox, "bookinfo-helm");
    assert_eq!(
        values,
        [
            ("istio-base".to_owned(), json!({"profile": "demo"})),
            (
                "istiod".to_owned(),
                json!({
                    "profile": "demo",
                    "global": {"hub": "docker.io/istio", "tag": "1.30.3"},
                    "meshConfig": {"accessLogFile": "/dev/stdout"}
                })
            ),
            (
                "istio-ingressgateway".to_owned(),
                json!({"profile": "demo"})
            ),
        ]
    );
    // The gateway chart's Service listens on 80 itself: so does the Gateway.
    let gateway = documents(&sandbox.read("out/bookinfo-helm/04-gateway.yaml"));
    assert_eq!(gateway[0]["spec"]["servers"][0]["port"]["number"], 80);
    let kustomization = sandbox.read("out/bookinfo-helm/kustomization.yaml");
    assert!(
        kustomization.contains("- 02-namespace.yaml"),
        "{kustomization}"
    );
    // The charts are Helm's, not kubectl's: only named in the comment.
    assert!(
        !kustomization.lines().any(|l| l.starts_with("- install")),
        "{kustomization}"
    );
}

#[test]
fn the_plan_installs_each_chart_with_helm_in_order_and_uninstalls_them_in_reverse() {
    let sandbox = build(&support::scenario("bookinfo-helm"));
    let plan = sandbox.read("out/bookinfo-helm/PLAN.md");
    let installs: Vec<&str> = plan
        .lines()
        .filter_map(|l| l.split("`helm upgrade --install ").nth(1))
        .collect();
    assert_eq!(
        installs,
        [
            "istio-base istio/base -n istio-system --create-namespace --version 1.30.3 -f \
             install/helm/01-istio-base.values.yaml --wait` |",
            "istiod istio/istiod -n istio-system --create-namespace --version 1.30.3 -f \
             install/helm/02-istiod.values.yaml --wait` |",
            "istio-ingressgateway istio/gateway -n istio-system --create-namespace --version \
             1.30.3 -f install/helm/03-istio-ingressgateway.values.yaml --wait` |",
        ]
    );
    assert!(plan.contains(
        "`helm repo add istio https://istio-release.storage.googleapis.com/charts && helm repo \
         update istio`"
    ));
    // The bundles kubectl applies follow the charts in the same table.
    assert!(plan.contains("| 4 | `02-namespace.yaml` |"), "{plan}");
    let teardown = plan.split("## Teardown").nth(1).expect("teardown");
    assert!(
        teardown.contains(
            "`helm uninstall istio-ingressgateway -n istio-system`, then `helm uninstall istiod \
             -n istio-system`, then `helm uninstall istio-base -n istio-system`"
        ),
        "{teardown}"
    );
    assert!(!teardown.contains("istioctl"), "{teardown}");
}

#[test]
fn argo_cd_applications_install_the_same_charts_in_sync_waves_with_the_same_values() {
    let sandbox = build(&support::scenario("bookinfo-helm"));
    let values = values_files(&sandbox, "bookinfo-helm");
    let apps = documents(&sandbox.read("out/bookinfo-helm/install/argocd/applications.yaml"));
    assert_eq!(apps.len(), values.len());
    for (i, (app, (release, values))) in apps.iter().zip(&values).enumerate() {
        assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
        assert_eq!(app["kind"], "Application");
        assert_eq!(app["metadata"]["name"], release.as_str());
        assert_eq!(app["metadata"]["namespace"], "argocd");
        let wave = (i + 1).to_string();
        assert_eq!(
            app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"],
            wave.as_str()
        );
        let source = &app["spec"]["source"];
        assert_eq!(
            source["repoURL"],
            "https://istio-release.storage.googleapis.com/charts"
        );
        assert_eq!(source["targetRevision"], "1.30.3");
        assert_eq!(source["helm"]["releaseName"], release.as_str());
        assert_eq!(&source["helm"]["valuesObject"], values);
        assert_eq!(app["spec"]["destination"]["namespace"], "istio-system");
    }
    let charts: Vec<&Value> = apps.iter().map(|a| &a["spec"]["source"]["chart"]).collect();
    assert_eq!(charts, ["base", "istiod", "gateway"]);
    // istiod rewrites its validating webhooks' failurePolicy: Argo CD ignores it.
    let istiod = &apps[1]["spec"];
    assert_eq!(
        istiod["ignoreDifferences"],
        json!([{
            "group": "admissionregistration.k8s.io",
            "kind": "ValidatingWebhookConfiguration",
            "jqPathExpressions": [".webhooks[]?.failurePolicy"]
        }])
    );
    assert!(
        (istiod["syncPolicy"]["syncOptions"].as_array())
            .is_some_and(|o| o.contains(&json!("RespectIgnoreDifferences=true")))
    );
    assert_eq!(apps[2]["spec"].get("ignoreDifferences"), None);
}

#[test]
fn flux_helm_releases_depend_on_the_chart_before_them_with_the_same_values() {
    let sandbox = build(&support::scenario("bookinfo-helm"));
    let values = values_files(&sandbox, "bookinfo-helm");
    let docs = documents(&sandbox.read("out/bookinfo-helm/install/flux/helm-releases.yaml"));
    let repository = &docs[0];
    assert_eq!(repository["apiVersion"], "source.toolkit.fluxcd.io/v1");
    assert_eq!(repository["kind"], "HelmRepository");
    assert_eq!(
        repository["spec"]["url"],
        "https://istio-release.storage.googleapis.com/charts"
    );
    let releases = &docs[1..];
    assert_eq!(releases.len(), values.len());
    let mut before: Option<&str> = None;
    for (release, (name, values)) in releases.iter().zip(&values) {
        assert_eq!(release["apiVersion"], "helm.toolkit.fluxcd.io/v2");
        assert_eq!(release["kind"], "HelmRelease");
        assert_eq!(release["metadata"]["name"], name.as_str());
        let spec = &release["spec"];
        assert_eq!(spec["targetNamespace"], "istio-system");
        assert_eq!(spec["chart"]["spec"]["version"], "1.30.3");
        assert_eq!(
            spec["chart"]["spec"]["sourceRef"],
            json!({"kind": "HelmRepository", "name": repository["metadata"]["name"]})
        );
        assert_eq!(&spec["values"], values);
        match before {
            Some(b) => assert_eq!(spec["dependsOn"], json!([{"name": b}])),
            None => assert_eq!(spec.get("dependsOn"), None),
        }
        before = Some(name);
    }
}

/// The keys of `values` (paths) that `chart_values` (a chart's
/// `values.yaml`, defaults nested under `_internal_defaults_do_not_set` or
/// not) does not have. `profile` is valid though absent (the charts'
/// `zzz_profile.yaml` reads it); istiod's `meshConfig` is a MeshConfig, whose
/// fields the chart does not list.
fn unknown_keys(values: &Value, chart_values: &Value) -> Vec<String> {
    let defaults = chart_values
        .get("_internal_defaults_do_not_set")
        .unwrap_or(chart_values);
    let mut unknown = Vec::new();
    walk(values, defaults, "", &mut unknown);
    unknown
}

fn walk(values: &Value, chart: &Value, path: &str, unknown: &mut Vec<String>) {
    let Some(values) = values.as_object() else {
        return;
    };
    for (key, value) in values {
        let here = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        match chart.get(key) {
            _ if here == "profile" => {}
            Some(_) if here == "meshConfig" => {}
            Some(inner) => walk(value, inner, &here, unknown),
            None => unknown.push(here),
        }
    }
}

/// The chart folder of the shared schemas for a release name.
fn chart_folder(release: &str) -> &'static str {
    match release {
        "istio-base" => "base",
        "istiod" => "istio-discovery",
        "istio-cni" => "istio-cni",
        "ztunnel" => "ztunnel",
        "istio-ingressgateway" => "gateway",
        other => panic!("unexpected release {other}"),
    }
}

/// Istio 1.30.3's charts, or `None` (skipped) without the shared folder.
fn charts_1_30() -> Option<std::path::PathBuf> {
    let dir = support::shared_dir()?.join("schemas/istio/1.30.3/helm");
    if dir.is_dir() {
        Some(dir)
    } else {
        support::require_shared(&dir);
        None
    }
}

fn chart_values(dir: &Path, release: &str) -> Value {
    let path = dir.join(chart_folder(release)).join("values.yaml");
    yaml(&std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

#[test]
fn every_helm_value_meshgen_writes_is_a_key_of_that_charts_values_yaml() {
    let Some(dir) = charts_1_30() else {
        return;
    };
    // The check itself catches a misspelt key, nested or not.
    let istiod = chart_values(&dir, "istiod");
    assert_eq!(
        unknown_keys(
            &json!({"global": {"hubb": "x"}, "revison": "x", "profile": "demo"}),
            &istiod
        ),
        ["global.hubb", "revison"]
    );
    let mut seen = Vec::new();
    for (name, sandbox) in [
        ("bookinfo-helm", build(&support::scenario("bookinfo-helm"))),
        ("helm-sidecar", build_text(HELM_SIDECAR)),
        ("helm-ambient", build_text(HELM_AMBIENT)),
    ] {
        for (release, values) in values_files(&sandbox, name) {
            let unknown = unknown_keys(&values, &chart_values(&dir, &release));
            assert!(
                unknown.is_empty(),
                "{name}: {release} values {unknown:?} are not in the chart's values.yaml"
            );
            seen.push(release);
        }
    }
    for release in [
        "istio-base",
        "istiod",
        "istio-cni",
        "ztunnel",
        "istio-ingressgateway",
    ] {
        assert!(seen.iter().any(|s| s == release), "{release} was checked");
    }
}

#[test]
fn helm_values_carry_what_the_mesh_sets_on_each_chart() {
    let sandbox = build_text(HELM_SIDECAR);
    assert_eq!(
        values_files(&sandbox, "helm-sidecar"),
        [
            ("istio-base".to_owned(), json!({"profile": "demo"})),
            (
                "istiod".to_owned(),
                json!({
                    "profile": "demo",
                    "revision": "canary",
                    "global": {"hub": "registry.example.com/istio", "tag": "1.30.3-distroless"},
                    "meshConfig": {
                        "accessLogFile": "/dev/stdout",
                        "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}
                    }
                })
            ),
            (
                "istio-ingressgateway".to_owned(),
                json!({"profile": "demo", "revision": "canary"})
            ),
        ]
    );
    let sandbox = build_text(HELM_AMBIENT);
    let images = json!({"hub": "registry.example.com/istio", "tag": "1.30.3"});
    assert_eq!(
        values_files(&sandbox, "helm-ambient"),
        [
            ("istio-base".to_owned(), json!({"profile": "ambient"})),
            (
                "istiod".to_owned(),
                json!({
                    "profile": "ambient",
                    "revision": "stable",
                    "global": images,
                    "meshConfig": {"outboundTrafficPolicy": {"mode": "ALLOW_ANY"}}
                })
            ),
            (
                "istio-cni".to_owned(),
                json!({"profile": "ambient", "revision": "stable", "global": images})
            ),
            (
                "ztunnel".to_owned(),
                json!({"profile": "ambient", "revision": "stable",
                       "hub": "registry.example.com/istio", "tag": "1.30.3"})
            ),
        ]
    );
}

#[test]
fn the_gateway_charts_values_pass_its_schema_and_its_pods_carry_the_gateways_selector() {
    for (name, sandbox) in [
        ("bookinfo-helm", build(&support::scenario("bookinfo-helm"))),
        ("helm-sidecar", build_text(HELM_SIDECAR)),
    ] {
        let (release, values) = values_files(&sandbox, name)
            .into_iter()
            .find(|(r, _)| r.contains("gateway"))
            .expect("a gateway chart");
        // templates/_helpers.tpl (1.30.3): pods get `app: <name>` and
        // `istio: <name without "istio-">`, the name being `.Values.name`
        // or the release's; `.Values.labels` override them.
        let pod_name = values["name"].as_str().unwrap_or(&release).to_owned();
        let mut labels = serde_json::Map::new();
        labels.insert("app".into(), json!(pod_name));
        let istio = pod_name.strip_prefix("istio-").unwrap_or(&pod_name);
        labels.insert("istio".into(), json!(istio));
        if let Some(extra) = values["labels"].as_object() {
            labels.extend(extra.clone());
        }
        let gateway = documents(&sandbox.read(&format!("out/{name}/04-gateway.yaml")));
        let selector = gateway[0]["spec"]["selector"]
            .as_object()
            .expect("selector");
        assert!(!selector.is_empty());
        for (key, value) in selector {
            assert_eq!(labels.get(key), Some(value), "{name}: pod label {key}");
        }
        let Some(dir) = charts_1_30() else {
            continue;
        };
        let path = dir.join("gateway/values.schema.json");
        let schema: Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .expect("JSON");
        let validator = jsonschema::validator_for(&schema).expect("the chart's schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&values)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{name}: {errors:?}");
        // The schema is strict: it refuses a key the chart does not take.
        assert!(!validator.is_valid(&json!({"replicas": 2})));
    }
}

#[test]
fn kuard_on_the_operator_applies_the_istio_operator_and_plans_the_operators_install() {
    let sandbox = build(&support::scenario("kuard-operator"));
    let mesh = documents(&sandbox.read("out/kuard-operator/01-mesh.yaml"));
    assert_eq!(
        mesh[0],
        json!({
            "apiVersion": "install.istio.io/v1alpha1",
            "kind": "IstioOperator",
            "metadata": {"name": "kuard-operator", "namespace": "istio-system"},
            "spec": {"profile": "default", "hub": "docker.io/istio", "tag": "1.9.3"}
        })
    );
    let plan = sandbox.read("out/kuard-operator/PLAN.md");
    for expected in [
        "`helm install istio-operator manifests/charts/istio-operator --set hub=docker.io/istio \
         --set tag=1.9.3 --set operatorNamespace=istio-operator --set \
         watchedNamespaces=istio-system`",
        "`istioctl operator init --hub docker.io/istio --tag 1.9.3 --operatorNamespace \
         istio-operator --watchedNamespaces istio-system`",
        "ISTIO_VERSION=1.9.3",
        "`kubectl rollout status deployment/istio-operator -n istio-operator --timeout=5m`",
        "`kubectl wait --for=jsonpath='{.status.status}'=HEALTHY \
         istiooperator/kuard-operator -n istio-system --timeout=10m`",
        "| 1 | `01-mesh.yaml` | IstioOperator istio-system/kuard-operator | `kubectl apply -f \
         01-mesh.yaml` |",
        "2. `kubectl delete istiooperator kuard-operator -n istio-system` makes the operator \
         remove the mesh; once istiod is gone, `helm uninstall istio-operator` removes the \
         operator",
    ] {
        assert!(plan.contains(expected), "PLAN.md lacks {expected}\n{plan}");
    }
    assert!(!plan.contains("istioctl install"), "{plan}");
    assert!(!sandbox.path().join("out/kuard-operator/install").exists());
    // Every value the plan sets is one the 1.9.3 operator chart has.
    let Some(shared) = support::shared_dir() else {
        return;
    };
    let path = shared.join("schemas/istio/1.9.3/istio-operator-chart/values.yaml");
    if !path.is_file() {
        support::require_shared(&path);
        return;
    }
    let chart = yaml(&std::fs::read_to_string(&path).expect("values.yaml"));
    let sets: Vec<&str> = plan
        .split("--set ")
        .skip(1)
        .filter_map(|s| s.split('=').next())
        .collect();
    assert_eq!(
        sets,
        ["hub", "tag", "operatorNamespace", "watchedNamespaces"]
    );
    for key in sets {
        assert!(
            chart.get(key).is_some(),
            "{key} is not in the operator chart"
        );
    }
}

#[test]
fn an_explicit_istioctl_install_builds_exactly_what_no_install_key_builds() {
    let kuard = std::fs::read_to_string(support::scenario("kuard")).expect("kuard");
    let explicit = kuard.replace(
        "profile = \"default\"\n",
        "profile = \"default\"\ninstall = \"istioctl\"\n",
    );
    assert_ne!(kuard, explicit);
    let implicit = build_text(&kuard);
    let with_key = build_text(&explicit);
    let files = |s: &Sandbox| support::files(&s.path().join("out/kuard"));
    assert_eq!(files(&implicit), files(&with_key));
    assert!(implicit.path().join("out/kuard/01-mesh.yaml").is_file());
    assert!(!implicit.path().join("out/kuard/install").exists());
}

/// The scenario `mesh` (the lines of `[mesh]` after `name`), with one
/// service and `more`.
fn scenario_text(mesh: &str, more: &str) -> String {
    format!(
        "name = \"s\"\n[mesh]\n{mesh}[namespace]\nname = \"demo\"\n[[services]]\nname = \
         \"web\"\nport = 8080\n  [services.versions.v1]\n  image = \"example.com/web:1\"\n{more}"
    )
}

/// The first line of each diagnostic of `meshgen check`, from the line on.
fn check(text: &str) -> (i32, Vec<String>) {
    let sandbox = Sandbox::new();
    sandbox.write("s.toml", text);
    let run = sandbox.run(&["check", "s.toml"]);
    let lines = (run.stderr.lines())
        .filter(|l| l.contains(": error: ") || l.contains(": warning: "))
        .map(|l| {
            l.split_once("s.toml:")
                .map_or(l, |(_, rest)| rest)
                .to_owned()
        })
        .collect();
    (run.code, lines)
}

#[test]
fn the_operator_needs_a_release_that_ships_it_and_an_image_tag() {
    for (version, expected) in [
        (
            "1.24.0",
            "4:11: error: install = \"operator\" needs Istio 1.6 to 1.23, whose releases ship \
             the in-cluster operator's Helm chart and `istioctl operator init` (Istio 1.24 \
             removed the in-cluster operator: use install = \"helm\"); mesh.version is 1.24.0",
        ),
        (
            "1.5.1",
            "4:11: error: install = \"operator\" needs Istio 1.6 to 1.23, whose releases ship \
             the in-cluster operator's Helm chart and `istioctl operator init` (its Helm chart \
             arrived in 1.6); mesh.version is 1.5.1",
        ),
        (
            "1.9",
            "4:11: error: install = \"operator\" installs the operator's image by tag, and \
             mesh.version 1.9 names no patch release: write it as MAJOR.MINOR.PATCH or set \
             mesh.tag",
        ),
    ] {
        let text = scenario_text(
            &format!("version = \"{version}\"\ninstall = \"operator\"\n"),
            "",
        );
        assert_eq!(check(&text), (1, vec![expected.to_owned()]), "{version}");
    }
    let tagged = scenario_text(
        "version = \"1.9\"\ninstall = \"operator\"\ntag = \"1.9.3\"\n",
        "",
    );
    assert_eq!(check(&tagged), (0, vec![]));
}

#[test]
fn helm_needs_the_charts_the_scenario_asks_for_in_its_release() {
    let gateway = "[gateway]\n[[gateway.routes]]\nservice = \"web\"\n";
    for (mesh, more, expected) in [
        (
            "version = \"1.7.8\"\ninstall = \"helm\"\n",
            "",
            "4:11: error: install = \"helm\" needs Istio 1.8 or later (its first release with \
             the base and istiod Helm charts); mesh.version is 1.7.8",
        ),
        (
            "version = \"1.22\"\ninstall = \"helm\"\n",
            "",
            "4:11: error: install = \"helm\" pins every chart to the release, and mesh.version \
             1.22 names no patch release: write it as MAJOR.MINOR.PATCH",
        ),
        (
            "version = \"1.11.8\"\ninstall = \"helm\"\n",
            gateway,
            "4:11: error: install = \"helm\" needs the `gateway` chart for the ingress gateway, \
             which Istio publishes from 1.12; mesh.version is 1.11.8",
        ),
        (
            "version = \"1.20.8\"\ninstall = \"helm\"\nprofile = \"demo\"\n",
            "",
            "5:11: error: profile `demo` with install = \"helm\" needs Istio 1.21 or later, \
             whose charts take a `profile` value; mesh.version is 1.20.8: remove profile or \
             use install = \"istioctl\"",
        ),
        (
            "version = \"1.30.3\"\ninstall = \"helm\"\n[mesh.components]\negress_gateway = true\n",
            "",
            "6:18: error: install = \"helm\" installs no egress gateway (meshgen releases the \
             gateway chart as the ingress gateway only): remove egress_gateway, or install \
             one yourself with the gateway chart",
        ),
    ] {
        assert_eq!(
            check(&scenario_text(mesh, more)),
            (1, vec![expected.to_owned()]),
            "{mesh}"
        );
    }
    // From 1.12 the same scenario has its gateway chart.
    let ok = scenario_text("version = \"1.12.0\"\ninstall = \"helm\"\n", gateway);
    assert_eq!(check(&ok), (0, vec![]));
}
