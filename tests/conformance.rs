//! Conformance of every emitted document of every shipped scenario to the CRDs
//! of the release it targets, schema and CEL rules alike, through
//! `meshgen build --crd-schemas`: Istio's CRDs (1.5.1 for scenarios of Istio
//! 1.5.x, 1.30.3 for every other), with Gateway API v1.5.1's standard channel
//! beside them for Istio 1.22 and later, as `scripts/conformance.sh` (b) does.
//! The CRDs are read from the shared folder, never copied here.

use std::path::PathBuf;

use crate::support::{self, Sandbox, repo};

/// The Gateway API channel checked: `standard-crds.yaml` (what a cluster
/// installs by default); `experimental-crds.yaml` holds the same kinds with
/// more fields.
const GATEWAY_API: &str = "gateway-api/v1.5.1/standard-crds.yaml";

/// `mesh.version` of a scenario as (major, minor); the latest release when absent.
fn release(scenario: &str) -> (u32, u32) {
    let text = std::fs::read_to_string(scenario).expect("scenario");
    let table: toml::Table = text.parse().expect("scenario TOML");
    let version = table
        .get("mesh")
        .and_then(|mesh| mesh.get("version"))
        .and_then(toml::Value::as_str)
        .unwrap_or("1.30.3");
    let mut parts = version
        .split('.')
        .map(|n| n.parse::<u32>().expect("version"));
    (parts.next().unwrap_or(1), parts.next().unwrap_or(0))
}

/// The CRD files (under `schemas/` of the shared folder) for a release.
fn crds_for(release: (u32, u32)) -> Vec<&'static str> {
    let mut files = if release < (1, 6) {
        vec![
            "istio/1.5.1/crd-all.gen.yaml",
            "istio/istiooperator/crd-operator.1.5.1.yaml",
        ]
    } else {
        vec![
            "istio/1.30.3/crd-all.gen.yaml",
            "istio/istiooperator/crd-operator.1.23.6.yaml",
        ]
    };
    if release >= (1, 22) {
        files.push(GATEWAY_API);
    }
    files
}

/// The given CRD files of the shared folder, or `None` (with a note, or a
/// failure under `MESHGEN_REQUIRE_SHARED`) when one is absent.
fn shared_files(files: &[&str]) -> Option<Vec<String>> {
    let schemas = support::shared_dir()?.join("schemas");
    let paths: Vec<PathBuf> = files.iter().map(|file| schemas.join(file)).collect();
    if let Some(missing) = paths.iter().find(|path| !path.is_file()) {
        support::require_shared(missing);
        return None;
    }
    Some(paths.iter().map(|p| p.display().to_string()).collect())
}

/// Every shipped scenario, sorted.
fn shipped() -> Vec<String> {
    let mut scenarios: Vec<String> = std::fs::read_dir(repo().join("scenarios"))
        .expect("scenarios/")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| path.display().to_string())
        .collect();
    scenarios.sort();
    scenarios
}

#[test]
fn releases_pick_the_crds_of_their_line() {
    assert_eq!(crds_for((1, 5))[0], "istio/1.5.1/crd-all.gen.yaml");
    assert_eq!(crds_for((1, 21)).len(), 2);
    assert_eq!(crds_for((1, 22))[2], GATEWAY_API);
    assert_eq!(crds_for((1, 30))[0], "istio/1.30.3/crd-all.gen.yaml");
    assert_eq!(release(&support::scenario("bookinfo")), (1, 5));
    assert_eq!(release(&support::scenario("kuard")), (1, 22));
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn every_document_of_every_shipped_scenario_conforms_to_its_crds() {
    let scenarios = shipped();
    assert!(scenarios.len() >= 5, "{scenarios:?}");
    let sandbox = Sandbox::new();
    for scenario in &scenarios {
        let Some(crds) = shared_files(&crds_for(release(scenario))) else {
            return;
        };
        let mut args = vec!["build", scenario.as_str()];
        args.extend(crds.iter().flat_map(|f| ["--crd-schemas", f.as_str()]));
        let run = sandbox.run(&args);
        run.expect_code(0);
        assert!(
            run.stderr
                .contains("documents checked against the supplied CRDs, 0 do not conform"),
            "{scenario}:\n{}",
            run.stderr
        );
        // No CEL rule of the CRDs was set aside.
        assert!(!run.stderr.contains("CEL rule of"), "{}", run.stderr);
    }
}

#[test]
#[cfg_attr(
    meshgen_no_shared,
    ignore = "needs ../shared/schemas/istio or MESHGEN_SHARED_DIR (touch build.rs once it is there)"
)]
fn a_build_that_breaks_a_cel_rule_is_an_error_naming_the_rule_message() {
    let kuard = support::scenario("kuard");
    let Some(crds) = shared_files(&crds_for(release(&kuard))) else {
        return;
    };
    let sandbox = Sandbox::new();
    let shipped = repo().join("templates/destinationrule.yaml.j2");
    let template = std::fs::read_to_string(shipped).expect("template");
    let host = "spec:\n  host: {{ service.name }}\n";
    assert!(template.contains(host));
    let instant = "  trafficPolicy:\n    connectionPool:\n      tcp:\n        connectTimeout: 0s\n";
    sandbox.write(
        "templates/destinationrule.yaml.j2",
        template.replace(host, &format!("{host}{instant}")),
    );
    let mut args = vec!["build", kuard.as_str(), "--templates", "templates"];
    args.extend(crds.iter().flat_map(|f| ["--crd-schemas", f.as_str()]));
    let run = sandbox.run(&args);
    run.expect_code(2);
    // Lines of a finding are joined with an escaped `\n` on stderr (printable::escape).
    for expected in [
        "DestinationRule test-ns/kuard (template destinationrule.yaml.j2) does not conform to its CRD:",
        "/spec/trafficPolicy/connectionPool/tcp/connectTimeout: must be a valid duration greater than 1ms",
        "CEL rule: duration(self) >= duration('1ms')",
    ] {
        assert!(run.stderr.contains(expected), "{expected}\n{}", run.stderr);
    }
    assert!(!sandbox.path().join("out").exists(), "nothing is written");
}
