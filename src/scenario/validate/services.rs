//! Validation of services and their versions: ports, accounts, images,
//! labels, the names two services would share, and calls.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use compact_str::CompactString;
use toml::Spanned;

use crate::model::{Call, Lifetime, Protocol, Service, TrafficPolicy, Version, WorkloadMode};
use crate::scenario::names::{
    is_env_name, is_image_reference, is_label_key, is_label_value, is_rfc1035_label,
};
use crate::scenario::raw::{RawCall, RawMap, RawService, RawVersion};

use super::*;

impl Checker<'_> {
    /// Every service, checked, with what the steps need of each; the
    /// names two services would share and every call, resolved once all
    /// services are known.
    pub(super) fn services(
        &mut self,
        raw: &Spanned<Vec<Spanned<RawService>>>,
        registry: Option<&str>,
        global_policy: &TrafficPolicy,
    ) -> Vec<ServiceInfo> {
        if raw.get_ref().is_empty() {
            self.error(raw.span(), "a scenario needs at least one service");
        }
        self.unique(
            raw.get_ref()
                .iter()
                .filter_map(|s| s.get_ref().name.as_ref()),
            "service",
        );
        self.declared = raw
            .get_ref()
            .iter()
            .filter_map(|s| s.get_ref().name.as_ref())
            .map(|n| n.get_ref().clone())
            .collect();
        // Sized once: a large file has thousands of services, and a Vec
        // that grows by doubling may hold twice the room it needs.
        let mut infos = Vec::with_capacity(raw.get_ref().len());
        let mut raws: Vec<&RawService> = Vec::with_capacity(raw.get_ref().len());
        // A service named again is reported once (above) and its own keys are
        // checked, but routes, calls and the gateway refer to the first one.
        let mut named: HashSet<&str> = HashSet::new();
        let mut repeated = Vec::new();
        for spanned in raw.get_ref() {
            let first = (spanned.get_ref().name.as_ref()).is_none_or(|n| named.insert(n.get_ref()));
            let checked = self.service(spanned, registry, global_policy);
            if !first {
                repeated.push(spanned.get_ref());
            } else if let Some((service, complete)) = checked {
                raws.push(spanned.get_ref());
                infos.push(ServiceInfo { service, complete });
            }
        }
        self.shared_names(&raws, &infos);
        // Calls can name any service, so they are resolved once all are known.
        let known: HashSet<CompactString> = infos.iter().map(|i| i.service.name.clone()).collect();
        for service in repeated {
            let versions = service.versions.iter().flat_map(|v| &v.get_ref().0);
            let lists = (service.calls.iter())
                .chain(versions.filter_map(|(_, v)| v.get_ref().calls.as_ref()));
            for calls in lists {
                self.calls(calls.get_ref(), &known);
            }
        }
        for (raw, info) in raws.iter().zip(&mut infos) {
            let service_calls = raw
                .calls
                .as_ref()
                .map(|c| self.calls(c.get_ref(), &known))
                .unwrap_or_default();
            // Each version's calls go to it by name; those of a version whose
            // name is in error are still checked.
            for (key, raw_version) in raw.versions.iter().flat_map(|v| &v.get_ref().0) {
                if self.gateway_api() {
                    self.version_service_name(&info.service.name, key, &known);
                }
                let calls = match &raw_version.get_ref().calls {
                    Some(own) => self.calls(own.get_ref(), &known),
                    None => service_calls.clone(),
                };
                let position = info.service.position(key.get_ref());
                if let Some(version) = position.and_then(|i| info.service.versions.get_mut(i)) {
                    version.calls = calls;
                }
            }
        }
        infos
    }

    /// Names two services would both create: a Deployment `<service>-<version>`
    /// (service `a-b`, version `c` and service `a`, version `b-c`), or a
    /// ServiceAccount, which meshgen creates per service (`account: <service>`).
    /// A service declared twice is reported as such, not here.
    fn shared_names(&mut self, raws: &[&RawService], infos: &[ServiceInfo]) {
        // With workloads = "existing", meshgen creates neither.
        if !self.emits_workloads() {
            return;
        }
        // `a-b` of service `a` is `a-b` of service `a-…` only when one
        // service's name is the other's, `-`, and more: only the services
        // of such a pair are compared (a large mesh has none, and a map of
        // every Deployment's name was the peak of its memory).
        let names: HashSet<&str> = infos.iter().map(|i| i.service.name.as_str()).collect();
        let mut paired: HashSet<&str> = HashSet::new();
        for name in &names {
            for (at, _) in name.match_indices('-') {
                if let Some(shorter) = names.get(&name[..at]) {
                    paired.extend([*name, *shorter]);
                }
            }
        }
        // Where each name was first made; its line is found only on a clash.
        let mut deployments: HashMap<String, (&str, &str, Range<usize>)> = HashMap::new();
        let mut accounts: HashMap<&str, (&str, Range<usize>)> = HashMap::new();
        for (raw, info) in raws.iter().zip(infos) {
            let service = &info.service;
            // The first key of each version name, of a service compared.
            let mut keys: HashMap<&str, &Spanned<CompactString>> = HashMap::new();
            if paired.contains(service.name.as_str()) {
                for (key, _) in raw.versions.iter().flat_map(|v| &v.get_ref().0) {
                    keys.entry(key.get_ref().as_str()).or_insert(key);
                }
            }
            for version in service.versions.iter().filter(|v| v.deploy) {
                let Some(key) = keys.get(version.name.as_str()) else {
                    continue;
                };
                let deployment = format!("{}-{}", service.name, version.name);
                match deployments.get(&deployment) {
                    Some((other, _, _)) if *other == service.name => {}
                    Some((other, other_version, first)) => {
                        let message = format!(
                            "Deployment `{deployment}` of service `{}`, version `{}`, is also \
                             the Deployment of service `{other}`, version `{other_version}` \
                             (line {}): rename one of the versions",
                            service.name,
                            version.name,
                            self.line(first)
                        );
                        self.error(key.span(), message);
                    }
                    None => {
                        deployments.insert(deployment, (&service.name, &version.name, key.span()));
                    }
                }
            }
            let (Some(account), Some(raw)) = (&service.service_account, &raw.service_account)
            else {
                continue;
            };
            match accounts.get(account.as_str()) {
                Some((other, _)) if *other == service.name => {}
                Some((other, first)) => {
                    let message = format!(
                        "service account `{account}` is also service `{other}`'s (line {}): \
                         meshgen creates a ServiceAccount per service, labelled \
                         `account: <service>`; give each service its own",
                        self.line(first)
                    );
                    self.error(raw.span(), message);
                }
                None => {
                    accounts.insert(account, (&service.name, raw.span()));
                }
            }
        }
    }

    /// The service, and whether it is complete (see `ServiceInfo`); `None`
    /// when it cannot even be a target (no valid name, protocol or versions).
    fn service(
        &mut self,
        raw: &Spanned<RawService>,
        registry: Option<&str>,
        global_policy: &TrafficPolicy,
    ) -> Option<(Service, bool)> {
        let span = raw.span();
        let svc = raw.get_ref();
        let name = self.required(&svc.name, "name", "[[services]]", &span);
        let name = name.and_then(|n| {
            if is_rfc1035_label(n.get_ref()) {
                Some(n.get_ref().clone())
            } else {
                self.error(
                    n.span(),
                    format!(
                        "service name `{}` is not an RFC 1035 label: use 1 to 63 lowercase \
                         letters, digits or '-', starting with a letter and ending with a \
                         letter or digit",
                        n.get_ref()
                    ),
                );
                None
            }
        });
        let port = self
            .required(&svc.port, "port", "[[services]]", &span)
            .and_then(|p| self.int_in(p, 1, 65535, "port"))
            .and_then(|p| u16::try_from(p).ok());
        let protocol = match &svc.protocol {
            None => Some(Protocol::Http),
            Some(p) => {
                let found = Protocol::ALL.iter().find(|(n, _)| n == p.get_ref());
                if found.is_none() {
                    self.error(
                        p.span(),
                        format!(
                            "protocol `{}` is not one of http, http2, grpc, tcp",
                            p.get_ref()
                        ),
                    );
                }
                found.map(|(_, protocol)| *protocol)
            }
        };
        let service_account = match &svc.service_account {
            Some(sa) => self.label(sa, "service_account").map(Some),
            None => Some(None),
        };
        let versions = self
            .required(&svc.versions, "versions", "[[services]]", &span)
            .map(|v| self.versions(v, name.as_deref(), registry));
        if let Some(policy) = svc.traffic_policy.as_ref().filter(|_| self.gateway_api()) {
            self.not_in_gateway_api(
                policy.span(),
                "a service's traffic_policy (a DestinationRule's)",
                "remove it",
            );
        }
        let traffic_policy = svc
            .traffic_policy
            .as_ref()
            .map(|p| self.traffic_policy(p.get_ref()))
            .unwrap_or_default()
            .or(global_policy);
        let complete = port.is_some() && service_account.is_some();
        let versions = versions?;
        let service = Service {
            name: name?,
            // A stand-in, never rendered: the port's error is reported.
            port: port.unwrap_or(STAND_IN_PORT),
            protocol: protocol?,
            service_account: service_account.flatten(),
            version_order: Service::by_name(&versions),
            versions,
            traffic_policy,
        };
        Some((service, complete))
    }

    fn versions(
        &mut self,
        raw: &Spanned<RawMap<Spanned<RawVersion>>>,
        service: Option<&str>,
        registry: Option<&str>,
    ) -> Vec<Version> {
        let entries = &raw.get_ref().0;
        if entries.is_empty() {
            self.error(raw.span(), "a service needs at least one version");
        }
        self.unique(entries.iter().map(|(k, _)| k), "version");
        let mut versions = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.label(key, "version name") else {
                continue;
            };
            if let Some(service) = service.filter(|_| self.emits_workloads()) {
                let deployment = format!("{service}-{name}");
                if deployment.len() > 63 {
                    self.error(
                        key.span(),
                        format!(
                            "Deployment name `{deployment}` is longer than 63 characters: \
                             shorten the service or version name"
                        ),
                    );
                }
            }
            let v = value.get_ref();
            let labels = self.version_labels(v, &name);
            let labels = self.shared_labels(labels);
            if !self.emits_workloads() {
                self.ignored_version_keys(v);
                versions.push(Version::existing(name, labels));
                continue;
            }
            let deploy = v.deploy.as_ref().is_none_or(|d| *d.get_ref());
            let image = match &v.image {
                Some(image) => self
                    .image_part(image, "image", is_image_reference, IMAGE_REFERENCE)
                    .map(|i| registry.map_or(i.clone(), |r| rewrite_image(&i, r).into())),
                None if deploy => {
                    self.error(
                        value.span(),
                        format!(
                            "missing required key `image` in version `{name}` (or set deploy = false)"
                        ),
                    );
                    None
                }
                None => None,
            };
            let replicas = v
                .replicas
                .as_ref()
                .map_or(Some(1), |r| {
                    self.int_in(r, 0, i64::from(i32::MAX), "replicas")
                })
                .and_then(|r| u32::try_from(r).ok());
            let mut env = Vec::new();
            if let Some(raw_env) = &v.env {
                for (key, value) in &raw_env.get_ref().0 {
                    if is_env_name(key.get_ref()) {
                        env.push((key.get_ref().clone(), value.get_ref().clone()));
                    } else {
                        self.error(
                            key.span(),
                            format!(
                                "`{}` is not a valid environment variable name: use letters, \
                                 digits, '_', '-' or '.', not starting with a digit",
                                key.get_ref()
                            ),
                        );
                    }
                }
            }
            env.sort();
            // A version whose image or replicas are wrong is still declared
            // (steps that name it are not wrong too); the error already
            // recorded keeps the scenario from being built.
            versions.push(Version {
                name,
                image,
                replicas: replicas.unwrap_or(1),
                env,
                calls: Vec::new(),
                deploy,
                labels,
                lifetime: Lifetime::default(),
            });
        }
        if !self.emits_workloads() {
            self.same_pods(entries, &versions, service);
        }
        versions.shrink_to_fit();
        versions
    }

    /// Whether meshgen emits the workloads (not with `workloads = "existing"`).
    pub(super) fn emits_workloads(&self) -> bool {
        self.workloads == WorkloadMode::Emit
    }

    /// The labels a version's subset selects: its `labels` (only with
    /// `workloads = "existing"`), or `version: <name>`.
    fn version_labels(
        &mut self,
        v: &RawVersion,
        name: &str,
    ) -> Vec<(CompactString, CompactString)> {
        let default = vec![(CompactString::const_new("version"), name.into())];
        let Some(raw_labels) = &v.labels else {
            return default;
        };
        if self.emits_workloads() {
            self.error(
                raw_labels.span(),
                format!(
                    "`labels` picks the pods of workloads meshgen does not emit (workloads = \
                     \"existing\"): the Deployments meshgen emits carry `version: {name}`, which \
                     the subset selects; remove `labels`"
                ),
            );
            return default;
        }
        let mut labels = Vec::new();
        let mut ok = true;
        for (key, value) in &raw_labels.get_ref().0 {
            if !is_label_key(key.get_ref()) {
                ok = false;
                self.error(
                    key.span(),
                    format!("`{}` is not a valid Kubernetes label key", key.get_ref()),
                );
            } else if !is_label_value(value.get_ref()) {
                ok = false;
                self.error(
                    value.span(),
                    format!(
                        "`{}` is not a valid Kubernetes label value: at most 63 letters, digits, \
                         '-', '_' or '.', starting and ending with a letter or digit",
                        value.get_ref()
                    ),
                );
            } else {
                labels.push((key.get_ref().clone(), value.get_ref().clone()));
            }
        }
        // Labels in error (reported) are not compared with other versions'.
        if !ok {
            return default;
        }
        labels.sort();
        labels
    }

    /// `labels`, as the one list every version with them shares.
    fn shared_labels(
        &mut self,
        labels: Vec<(CompactString, CompactString)>,
    ) -> Arc<[(CompactString, CompactString)]> {
        if let Some(shared) = self.label_lists.get(labels.as_slice()) {
            return Arc::clone(shared);
        }
        let shared: Arc<[_]> = labels.into();
        self.label_lists.insert(Arc::clone(&shared));
        shared
    }

    /// Warns when two versions of a service select the same pods: their
    /// subsets are then one, and routing between them does nothing.
    fn same_pods(
        &mut self,
        entries: &[(Spanned<CompactString>, Spanned<RawVersion>)],
        versions: &[Version],
        service: Option<&str>,
    ) {
        let mut seen: HashMap<&[(CompactString, CompactString)], &str> = HashMap::new();
        for version in versions {
            let Some(first) = seen.get(&*version.labels).copied() else {
                seen.insert(&version.labels, &version.name);
                continue;
            };
            let Some((key, _)) = entries.iter().find(|(k, _)| *k.get_ref() == version.name) else {
                continue;
            };
            let labels: Vec<String> = version
                .labels
                .iter()
                .map(|(k, v)| format!("{k}: {v}"))
                .collect();
            self.warning(
                key.span(),
                format!(
                    "versions `{first}` and `{}` of `{}` select the same pods ({}): \
                     routing between their subsets changes nothing; give each its own `labels`",
                    version.name,
                    service.unwrap_or("the service"),
                    labels.join(", ")
                ),
            );
        }
    }

    /// With `workloads = "existing"`, the keys of a version that set its
    /// Deployment: meshgen emits none, so each is an error at its key.
    fn ignored_version_keys(&mut self, v: &RawVersion) {
        let keys = [
            ("image", "sets", v.image.as_ref().map(Spanned::span)),
            ("replicas", "sets", v.replicas.as_ref().map(Spanned::span)),
            ("env", "sets", v.env.as_ref().map(Spanned::span)),
            (
                "deploy",
                "says whether meshgen emits",
                v.deploy.as_ref().map(Spanned::span),
            ),
        ];
        for (key, does, span) in keys {
            if let Some(span) = span {
                self.error(
                    span,
                    format!(
                        "`{key}` {does} the version's Deployment, and with workloads = \
                         \"existing\" meshgen emits none (the application's own manifests \
                         do): remove `{key}`"
                    ),
                );
            }
        }
    }

    fn calls(&mut self, raw: &[Spanned<RawCall>], known: &HashSet<CompactString>) -> Vec<Call> {
        let mut calls = Vec::new();
        for spanned in raw {
            let call = spanned.get_ref();
            let Some(service) =
                self.required(&call.service, "service", "the call", &spanned.span())
            else {
                continue;
            };
            if !known.contains(service.get_ref().as_str()) {
                self.undeclared(service, "call to");
                continue;
            }
            let timeout = call
                .timeout
                .as_ref()
                .and_then(|t| self.duration(t, "timeout", true));
            let attempts = call
                .attempts
                .as_ref()
                .map_or(Some(1), |a| self.int_in(a, 1, 100, "attempts"))
                .and_then(|a| u32::try_from(a).ok());
            if let Some(attempts) = attempts {
                calls.push(Call {
                    service: service.get_ref().clone(),
                    timeout,
                    attempts,
                });
            }
        }
        calls
    }
}

/// Replaces the registry part of an image (everything before the last `/`);
/// an image without `/` gets the registry prefixed.
pub fn rewrite_image(image: &str, registry: &str) -> String {
    match image.rfind('/') {
        Some(i) => format!("{registry}{}", &image[i..]),
        None => format!("{registry}/{image}"),
    }
}

#[cfg(test)]
mod tests {
    use super::rewrite_image;

    #[test]
    fn registry_replaces_everything_before_the_last_slash() {
        let cases = [
            (
                "docker.io/istio/examples-bookinfo-reviews-v1:1.15.0",
                "registry.istio.io/release",
                "registry.istio.io/release/examples-bookinfo-reviews-v1:1.15.0",
            ),
            ("nginx:1.25", "mirror.local", "mirror.local/nginx:1.25"),
            (
                "localhost:5000/team/app@sha256:abc",
                "r.io/x",
                "r.io/x/app@sha256:abc",
            ),
        ];
        for (image, registry, expected) in cases {
            assert_eq!(rewrite_image(image, registry), expected);
        }
    }
}
