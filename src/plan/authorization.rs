//! The plan's section on `[security]`: the namespace's mutual TLS and, with
//! `authorization = "calls"`, who may call each service before the steps
//! (the allow-list of its AuthorizationPolicy) and why.

use std::fmt::Write as _;

use super::markdown::{code_span, code_span_in_cell, inline_text};
use crate::bundle::AUTHORIZATION_FILE;
use crate::model::{Moment, Scenario};
use crate::security::{self, GATEWAY_CALLER};

/// The section; nothing without `[security]`.
pub(super) fn authorization(out: &mut String, scenario: &Scenario) {
    let security = scenario.security;
    if !security.is_set() {
        return;
    }
    out.push_str("## Authorization\n\n");
    if let Some(mtls) = security.mtls {
        let _ = writeln!(
            out,
            "PeerAuthentication `default` sets mutual TLS to {} in namespace {}.\n",
            mtls.mode(),
            code_span(&scenario.namespace.name)
        );
    }
    if !security.authorization {
        return;
    }
    let _ = writeln!(
        out,
        "Each service's AuthorizationPolicy (`{AUTHORIZATION_FILE}`, applied after the \
         workloads: until then every call is allowed) allows exactly these principals; any \
         other caller gets `403 RBAC: access denied`. A step that launches a caller allows it \
         in its launch phase, before its Deployment starts, and one that retires the last \
         caller of a principal removes it in its retire phase.\n"
    );
    table(
        out,
        scenario,
        &security::allow_lists(scenario, Moment::BeforeSteps),
    );
}

/// After a step that launches or retires versions, the allow-lists when
/// they differ from before it; nothing otherwise.
pub(super) fn step_changes(out: &mut String, scenario: &Scenario, k: usize) {
    let Some(step) = scenario.steps.get(k) else {
        return;
    };
    if !scenario.security.authorization || (step.launch.is_empty() && step.retire.is_empty()) {
        return;
    }
    let before = security::allow_lists(scenario, Moment::before(k));
    let during = security::allow_lists(scenario, Moment::During(k));
    let after = security::allow_lists(scenario, Moment::After(k));
    if before == during && during == after {
        return;
    }
    out.push_str(
        "Who may call whom changes: allowances the launch needs are applied in its launch \
         phase, before the Deployments start, and those nobody needs any more are removed \
         in its retire phase. After the step:\n\n",
    );
    table(out, scenario, &after);
}

/// The allow-list of every service, one row each.
fn table(out: &mut String, scenario: &Scenario, lists: &[security::AllowList]) {
    out.push_str("| service | allowed principals | because of |\n|---|---|---|\n");
    for (service, list) in scenario.services.iter().zip(lists) {
        let (principals, callers) = if list.is_empty() {
            (
                "nobody".to_owned(),
                "no caller runs, no gateway route".to_owned(),
            )
        } else {
            let principals: Vec<String> = list.keys().map(|p| code_span_in_cell(p)).collect();
            let callers: Vec<String> = (list.values())
                .map(|callers| {
                    let names: Vec<String> = (callers.iter())
                        .map(|c| {
                            if c == GATEWAY_CALLER {
                                inline_text(c)
                            } else {
                                code_span_in_cell(c)
                            }
                        })
                        .collect();
                    names.join(", ")
                })
                .collect();
            (principals.join("<br>"), callers.join("<br>"))
        };
        let _ = writeln!(
            out,
            "| {} | {principals} | {callers} |",
            code_span_in_cell(&service.name)
        );
    }
    out.push('\n');
}
