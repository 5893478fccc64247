//! The Bookinfo walkthrough: meshgen's step files, DestinationRules, Gateway
//! and workloads are semantically the resources of Istio's Bookinfo samples
//! (samples/bookinfo/networking/*.yaml and platform/kube/bookinfo.yaml) of
//! the targeted release. Documents are compared as parsed values, so key
//! order and quoting do not matter; every field does.

use serde_json::{Value, json};

use crate::support::{Sandbox, documents, scenario};

/// Builds a shipped scenario and returns its output folder's sandbox.
fn built(name: &str) -> Sandbox {
    let sandbox = Sandbox::new();
    sandbox.run(&["build", &scenario(name)]).expect_code(0);
    sandbox
}

fn route(host: &str, subset: &str) -> Value {
    json!({"destination": {"host": host, "subset": subset}})
}

fn virtual_service(api: &str, name: &str, http: Value) -> Value {
    json!({
        "apiVersion": api,
        "kind": "VirtualService",
        "metadata": {"name": name, "namespace": "bookinfo"},
        "spec": {"hosts": [name], "http": http},
    })
}

fn jason() -> Value {
    json!([{"headers": {"end-user": {"exact": "jason"}}}])
}

/// The VirtualServices of each step, as Istio's sample files define them.
fn sample_steps(api: &str) -> Vec<(&'static str, Vec<Value>)> {
    let all_v1: Vec<Value> = ["productpage", "details", "reviews", "ratings"]
        .into_iter()
        .map(|s| virtual_service(api, s, json!([{"route": [route(s, "v1")]}])))
        .collect();
    vec![
        ("steps/01-all-v1.yaml", all_v1.clone()),
        (
            "steps/02-jason-v2.yaml",
            vec![virtual_service(
                api,
                "reviews",
                json!([
                    {"match": jason(), "route": [route("reviews", "v2")]},
                    {"route": [route("reviews", "v1")]},
                ]),
            )],
        ),
        (
            "steps/03-ratings-delay.yaml",
            vec![virtual_service(
                api,
                "ratings",
                json!([
                    {
                        "match": jason(),
                        "fault": {"delay": {"percentage": {"value": 100.0}, "fixedDelay": "7s"}},
                        "route": [route("ratings", "v1")],
                    },
                    {"route": [route("ratings", "v1")]},
                ]),
            )],
        ),
        (
            "steps/04-ratings-abort.yaml",
            vec![virtual_service(
                api,
                "ratings",
                json!([
                    {
                        "match": jason(),
                        "fault": {"abort": {"percentage": {"value": 100.0}, "httpStatus": 500}},
                        "route": [route("ratings", "v1")],
                    },
                    {"route": [route("ratings", "v1")]},
                ]),
            )],
        ),
        ("steps/05-reset-v1.yaml", all_v1),
        (
            "steps/06-reviews-50-v3.yaml",
            vec![virtual_service(
                api,
                "reviews",
                json!([{"route": [
                    {"destination": {"host": "reviews", "subset": "v1"}, "weight": 50},
                    {"destination": {"host": "reviews", "subset": "v3"}, "weight": 50},
                ]}]),
            )],
        ),
        (
            "steps/07-reviews-v3.yaml",
            vec![virtual_service(
                api,
                "reviews",
                json!([{"route": [route("reviews", "v3")]}]),
            )],
        ),
    ]
}

/// destination-rule-all.yaml, by host.
fn sample_destination_rules(api: &str) -> Vec<Value> {
    [
        ("productpage", vec!["v1"]),
        ("details", vec!["v1", "v2"]),
        ("reviews", vec!["v1", "v2", "v3"]),
        ("ratings", vec!["v1", "v2", "v2-mysql", "v2-mysql-vm"]),
    ]
    .into_iter()
    .map(|(host, subsets)| {
        let subsets: Vec<Value> = subsets
            .into_iter()
            .map(|v| json!({"name": v, "labels": {"version": v}}))
            .collect();
        json!({
            "apiVersion": api,
            "kind": "DestinationRule",
            "metadata": {"name": host, "namespace": "bookinfo"},
            "spec": {"host": host, "subsets": subsets},
        })
    })
    .collect()
}

/// bookinfo-gateway.yaml: the Gateway and the `bookinfo` VirtualService.
fn sample_gateway(api: &str, port: u16) -> Vec<Value> {
    let uris = json!([
        {"uri": {"exact": "/productpage"}},
        {"uri": {"prefix": "/static"}},
        {"uri": {"exact": "/login"}},
        {"uri": {"exact": "/logout"}},
        {"uri": {"prefix": "/api/v1/products"}},
    ]);
    vec![
        json!({
            "apiVersion": api,
            "kind": "Gateway",
            "metadata": {"name": "bookinfo-gateway", "namespace": "bookinfo"},
            "spec": {
                "selector": {"istio": "ingressgateway"},
                "servers": [{"port": {"number": port, "name": "http", "protocol": "HTTP"}, "hosts": ["*"]}],
            },
        }),
        json!({
            "apiVersion": api,
            "kind": "VirtualService",
            "metadata": {"name": "bookinfo", "namespace": "bookinfo"},
            "spec": {
                "hosts": ["*"],
                "gateways": ["bookinfo-gateway"],
                "http": [{
                    "match": uris,
                    "route": [{"destination": {"host": "productpage", "port": {"number": 9080}}}],
                }],
            },
        }),
    ]
}

fn assert_same_documents(sandbox: &Sandbox, file: &str, expected: &[Value]) {
    let actual = documents(&sandbox.read(file));
    assert_eq!(actual.len(), expected.len(), "{file}: document count");
    for (a, e) in actual.iter().zip(expected) {
        assert_eq!(a, e, "{file}: {}", e["metadata"]["name"]);
    }
}

fn check_release(name: &str, api: &str, gateway_port: u16) {
    let sandbox = built(name);
    let base = format!("out/{name}");
    for (file, expected) in sample_steps(api) {
        assert_same_documents(&sandbox, &format!("{base}/{file}"), &expected);
    }
    assert_same_documents(
        &sandbox,
        &format!("{base}/05-destination-rules.yaml"),
        &sample_destination_rules(api),
    );
    assert_same_documents(
        &sandbox,
        &format!("{base}/04-gateway.yaml"),
        &sample_gateway(api, gateway_port),
    );
}

#[test]
fn istio_1_5_walkthrough_matches_the_v1alpha3_samples_with_gateway_port_80() {
    check_release("bookinfo", "networking.istio.io/v1alpha3", 80);
}

#[test]
fn istio_1_30_walkthrough_matches_the_v1_samples_with_gateway_port_8080() {
    check_release("bookinfo-latest", "networking.istio.io/v1", 8080);
}

#[test]
fn workloads_match_bookinfo_yaml_services_accounts_and_deployments() {
    for (name, image_prefix, tag) in [
        ("bookinfo", "docker.io/istio/examples-bookinfo-", "1.15.0"),
        (
            "bookinfo-latest",
            "registry.istio.io/release/examples-bookinfo-",
            "1.20.3",
        ),
    ] {
        let sandbox = built(name);
        let docs = documents(&sandbox.read(&format!("out/{name}/03-workloads.yaml")));
        let of_kind =
            |kind: &str| -> Vec<&Value> { docs.iter().filter(|d| d["kind"] == kind).collect() };
        for service in of_kind("Service") {
            let svc = service["metadata"]["name"].as_str().expect("name");
            assert_eq!(
                service["metadata"]["labels"],
                json!({"app": svc, "service": svc})
            );
            assert_eq!(
                service["spec"],
                json!({"ports": [{"port": 9080, "name": "http"}], "selector": {"app": svc}})
            );
        }
        for account in of_kind("ServiceAccount") {
            let sa = account["metadata"]["name"].as_str().expect("name");
            let svc = sa.strip_prefix("bookinfo-").expect("bookinfo- prefix");
            assert_eq!(account["metadata"]["labels"], json!({"account": svc}));
        }
        let deployments: Vec<&str> = of_kind("Deployment")
            .iter()
            .map(|d| d["metadata"]["name"].as_str().expect("name"))
            .collect();
        assert_eq!(
            deployments,
            [
                "productpage-v1",
                "details-v1",
                "reviews-v1",
                "reviews-v2",
                "reviews-v3",
                "ratings-v1"
            ]
        );
        for deployment in of_kind("Deployment") {
            let full = deployment["metadata"]["name"].as_str().expect("name");
            let (svc, version) = full.rsplit_once('-').expect("service-version");
            let labels = json!({"app": svc, "version": version});
            assert_eq!(deployment["metadata"]["labels"], labels);
            assert_eq!(deployment["spec"]["replicas"], 1);
            assert_eq!(deployment["spec"]["selector"]["matchLabels"], labels);
            let pod = &deployment["spec"]["template"];
            assert_eq!(pod["metadata"]["labels"], labels);
            assert_eq!(pod["spec"]["serviceAccountName"], format!("bookinfo-{svc}"));
            let container = &pod["spec"]["containers"][0];
            assert_eq!(container["name"], svc);
            assert_eq!(
                container["image"],
                format!("{image_prefix}{svc}-{version}:{tag}")
            );
            assert_eq!(container["ports"], json!([{"containerPort": 9080}]));
            if svc == "reviews" {
                assert_eq!(
                    container["env"],
                    json!([{"name": "LOG_DIR", "value": "/tmp/logs"}])
                );
            }
        }
    }
}

#[test]
fn mesh_install_is_the_demo_profile_of_the_release() {
    let old = built("bookinfo");
    let mesh = documents(&old.read("out/bookinfo/01-mesh.yaml"));
    assert_eq!(mesh[0]["apiVersion"], "install.istio.io/v1alpha1");
    assert_eq!(
        mesh[0]["metadata"],
        json!({"name": "bookinfo", "namespace": "istio-system"})
    );
    assert_eq!(mesh[0]["spec"]["profile"], "demo");
    assert_eq!(mesh[0]["spec"]["tag"], "1.5.1");
    for addon in ["grafana", "kiali", "prometheus", "tracing"] {
        assert_eq!(mesh[0]["spec"]["addonComponents"][addon]["enabled"], true);
    }
    let plan = old.read("out/bookinfo/PLAN.md");
    assert!(
        plan.contains("istioctl manifest apply -f 01-mesh.yaml"),
        "1.5 installs with manifest apply"
    );

    let new = built("bookinfo-latest");
    let mesh = documents(&new.read("out/bookinfo-latest/01-mesh.yaml"));
    assert_eq!(mesh[0]["spec"]["tag"], "1.30.3");
    assert!(
        mesh[0]["spec"].get("addonComponents").is_none(),
        "no addons after 1.7"
    );
    let plan = new.read("out/bookinfo-latest/PLAN.md");
    assert!(plan.contains("istioctl install -f 01-mesh.yaml"));
}

#[test]
fn namespace_is_labelled_for_injection() {
    let sandbox = built("bookinfo");
    let ns = documents(&sandbox.read("out/bookinfo/02-namespace.yaml"));
    assert_eq!(
        ns,
        [
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo", "labels": {"istio-injection": "enabled"}}})
        ]
    );
}
