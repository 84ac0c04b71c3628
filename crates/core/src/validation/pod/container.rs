//! Container validation: `validateContainers`, `validateInitContainers`,
//! `validateContainerCommon` and the helpers below them in `pkg/apis/core/validation`
//! (V-21, V-22, V-24, V-25, V-26).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvFromSource, EnvVar, ObjectFieldSelector, ResourceFieldSelector,
    ResourceRequirements, SecurityContext, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity as ApiQuantity;

use super::quantity::{Quantity, parse_quantity};
use crate::field::{ErrorList, FieldError, Path};
use crate::validation::meta::{validate_label_name, validate_qualified_name};
use crate::validation::names::{
    is_config_map_key, is_dns1123_label, is_qualified_name, is_relaxed_env_var_name,
    is_valid_group_id, is_valid_port_name, is_valid_port_num, is_valid_user_id,
    name_is_dns_subdomain,
};

/// What a container needs to know about a pod volume that validated cleanly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VolumeKind {
    /// A persistentVolumeClaim or ephemeral volume (usable as a block device).
    Claim,
    /// An image volume (no subPath allowed).
    Image,
    Other,
}

/// The pod-level facts container validation depends on.
#[derive(Debug)]
pub(crate) struct PodContext<'a> {
    pub volumes: &'a BTreeMap<String, VolumeKind>,
    pub claim_names: &'a BTreeSet<String>,
    pub restart_policy: &'a str,
    pub host_users: bool,
    /// The object is a Pod, not a template (`opts.ResourceIsPod`).
    pub is_pod: bool,
}

/// `validateContainers`: at least one container; names unique among regular containers.
pub(crate) fn validate_containers(
    containers: &[Container],
    ctx: &PodContext<'_>,
    path: &Path,
) -> ErrorList {
    if containers.is_empty() {
        return vec![FieldError::required(path, "").with_hint(
            "add at least one container under spec.containers, with a name and an image",
        )];
    }
    let mut errs = ErrorList::new();
    let mut names = BTreeSet::new();
    for (i, ctr) in containers.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(ctr, ctx, &p));
        if !names.insert(ctr.name.as_str()) {
            errs.push(duplicate_name(&p, &ctr.name));
        }
        if ctr.restart_policy.is_some() {
            errs.push(FieldError::forbidden(
                &p.child("restartPolicy"),
                "may not be set for non-init containers",
            ));
        }
    }
    errs.extend(check_host_port_conflicts(containers, path));
    errs
}

/// `validateInitContainers`: like regular containers, names unique across both lists, only
/// `restartPolicy: Always` (sidecars) may set probes and lifecycle hooks.
pub(crate) fn validate_init_containers(
    containers: &[Container],
    regular: &[Container],
    ctx: &PodContext<'_>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut names: BTreeSet<&str> = regular.iter().map(|c| c.name.as_str()).collect();
    for (i, ctr) in containers.iter().enumerate() {
        let p = path.index(i);
        errs.extend(validate_container_common(ctr, ctx, &p));
        let mut restart_always = false;
        if let Some(policy) = &ctr.restart_policy {
            if policy == "Always" {
                restart_always = true;
            } else {
                errs.push(FieldError::not_supported(
                    &p.child("restartPolicy"),
                    policy,
                    &["Always"],
                ));
            }
        }
        if names.contains(ctr.name.as_str()) {
            errs.push(duplicate_name(&p, &ctr.name));
        } else if !ctr.name.is_empty() {
            names.insert(ctr.name.as_str());
        }
        // Init containers run one by one, so host ports only clash within one container.
        errs.extend(check_host_port_conflicts(std::slice::from_ref(ctr), path));
        if !restart_always {
            let forbidden = "may not be set for init containers without restartPolicy=Always";
            for (field, set) in [
                ("lifecycle", ctr.lifecycle.is_some()),
                ("livenessProbe", ctr.liveness_probe.is_some()),
                ("readinessProbe", ctr.readiness_probe.is_some()),
                ("startupProbe", ctr.startup_probe.is_some()),
            ] {
                if set {
                    errs.push(FieldError::forbidden(&p.child(field), forbidden));
                }
            }
        }
    }
    errs
}

fn duplicate_name(container_path: &Path, name: &str) -> FieldError {
    FieldError::duplicate(&container_path.child("name"), name)
        .with_hint("container names must be unique across containers and initContainers")
}

/// `validateContainerCommon`: the rules shared by regular and init containers.
fn validate_container_common(ctr: &Container, ctx: &PodContext<'_>, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let name_path = path.child("name");
    if ctr.name.is_empty() {
        errs.push(FieldError::required(&name_path, ""));
    } else {
        errs.extend(dns1123_label(&ctr.name, &name_path));
    }
    // Go checks only the length: an image of blanks is accepted in templates.
    if ctr.image.as_deref().unwrap_or("").is_empty() {
        let image_path = path.child("image");
        errs.push(FieldError::required(&image_path, "").with_hint(format!(
            "set {image_path} to the container image to run, e.g. busybox:1.36"
        )));
    }
    let tmp_path = path.child("terminationMessagePolicy");
    match ctr.termination_message_policy.as_deref().unwrap_or("") {
        "File" | "FallbackToLogsOnError" => {}
        "" => errs.push(FieldError::required(&tmp_path, "")),
        other => errs.push(FieldError::not_supported(
            &tmp_path,
            other,
            &["File", "FallbackToLogsOnError"],
        )),
    }
    errs.extend(validate_container_ports(
        ctr.ports.as_deref().unwrap_or(&[]),
        &path.child("ports"),
    ));
    errs.extend(validate_env(
        ctr.env.as_deref().unwrap_or(&[]),
        &path.child("env"),
    ));
    errs.extend(validate_env_from(
        ctr.env_from.as_deref().unwrap_or(&[]),
        &path.child("envFrom"),
    ));
    errs.extend(validate_volume_mounts(
        ctr.volume_mounts.as_deref().unwrap_or(&[]),
        ctr,
        ctx.volumes,
        &path.child("volumeMounts"),
    ));
    errs.extend(validate_pull_policy(
        ctr.image_pull_policy.as_deref().unwrap_or(""),
        &path.child("imagePullPolicy"),
    ));
    if let Some(resources) = &ctr.resources {
        errs.extend(validate_container_resources(
            resources,
            ctx.claim_names,
            &path.child("resources"),
        ));
    }
    errs.extend(validate_resize_policy(
        ctr,
        ctx.restart_policy,
        &path.child("resizePolicy"),
    ));
    if let Some(sc) = &ctr.security_context {
        errs.extend(validate_security_context(
            sc,
            ctx.host_users,
            &path.child("securityContext"),
        ));
    }
    if ctx.is_pod {
        // validateContainerOnlyForPod: templates tolerate blanks around the image, pods do not.
        let image = ctr.image.as_deref().unwrap_or("");
        if image.len() != image.trim().len() {
            errs.push(FieldError::invalid(
                &path.child("image"),
                image,
                "must not have leading or trailing whitespace",
            ));
        }
    }
    errs
}

/// `ValidateDNS1123Label` with the lower-case hint.
pub(crate) fn dns1123_label(value: &str, path: &Path) -> ErrorList {
    is_dns1123_label(value)
        .into_iter()
        .map(|m| {
            let err = FieldError::invalid(path, value, m);
            let lower = value.to_ascii_lowercase();
            if lower != value && is_dns1123_label(&lower).is_empty() {
                err.with_hint(format!("use lower case: {lower}"))
            } else {
                err
            }
        })
        .collect()
}

/// `validateContainerPorts` (V-26): names are IANA service names and unique, port numbers in range,
/// protocol one of TCP, UDP, SCTP.
fn validate_container_ports(ports: &[ContainerPort], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut names = BTreeSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.index(i);
        let name = port.name.as_deref().unwrap_or("");
        if !name.is_empty() {
            let msgs = is_valid_port_name(name);
            if !msgs.is_empty() {
                errs.extend(
                    msgs.into_iter()
                        .map(|m| FieldError::invalid(&p.child("name"), name, m)),
                );
            } else if !names.insert(name) {
                errs.push(FieldError::duplicate(&p.child("name"), name));
            }
        }
        if port.container_port == 0 {
            errs.push(FieldError::required(&p.child("containerPort"), ""));
        } else {
            errs.extend(
                is_valid_port_num(port.container_port.into())
                    .into_iter()
                    .map(|m| {
                        FieldError::invalid(&p.child("containerPort"), port.container_port, m)
                    }),
            );
        }
        let host_port = port.host_port.unwrap_or(0);
        if host_port != 0 {
            errs.extend(
                is_valid_port_num(host_port.into())
                    .into_iter()
                    .map(|m| FieldError::invalid(&p.child("hostPort"), host_port, m)),
            );
        }
        match port.protocol.as_deref().unwrap_or("") {
            "" => errs.push(FieldError::required(&p.child("protocol"), "")),
            "TCP" | "UDP" | "SCTP" => {}
            other => errs.push(FieldError::not_supported(
                &p.child("protocol"),
                other,
                &["SCTP", "TCP", "UDP"],
            )),
        }
    }
    errs
}

/// `AccumulateUniqueHostPorts`: a protocol/hostIP/hostPort triple may be used once.
fn check_host_port_conflicts(containers: &[Container], path: &Path) -> ErrorList {
    let mut seen = BTreeSet::new();
    let mut errs = ErrorList::new();
    for (ci, ctr) in containers.iter().enumerate() {
        for (pi, port) in ctr.ports.iter().flatten().enumerate() {
            let host_port = port.host_port.unwrap_or(0);
            if host_port == 0 {
                continue;
            }
            let key = format!(
                "{}/{}/{}",
                port.protocol.as_deref().unwrap_or(""),
                port.host_ip.as_deref().unwrap_or(""),
                host_port
            );
            if !seen.insert(key.clone()) {
                let p = path.index(ci).child("ports").index(pi).child("hostPort");
                errs.push(FieldError::duplicate(&p, key));
            }
        }
    }
    errs
}

const ENV_FIELD_PATHS: [&str; 9] = [
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
];

const RESOURCE_FIELD_PATHS: [&str; 6] = [
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
];

/// `ValidateEnv` with relaxed names (RelaxedEnvironmentVariableValidation is GA, V-25).
fn validate_env(vars: &[EnvVar], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, ev) in vars.iter().enumerate() {
        let p = path.index(i);
        if ev.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        } else {
            errs.extend(
                is_relaxed_env_var_name(&ev.name)
                    .into_iter()
                    .map(|m| FieldError::invalid(&p.child("name"), ev.name.as_str(), m)),
            );
        }
        errs.extend(validate_env_var_value_from(ev, &p.child("valueFrom")));
    }
    errs
}

/// `validateEnvVarValueFrom`: exactly one source, and not together with `value`.
fn validate_env_var_value_from(ev: &EnvVar, path: &Path) -> ErrorList {
    let Some(from) = &ev.value_from else {
        return Vec::new();
    };
    let mut errs = ErrorList::new();
    let mut sources = 0;
    if let Some(f) = &from.field_ref {
        sources += 1;
        errs.extend(validate_object_field_selector(f, &path.child("fieldRef")));
    }
    if let Some(r) = &from.resource_field_ref {
        sources += 1;
        errs.extend(validate_resource_field_selector(
            r,
            &path.child("resourceFieldRef"),
        ));
    }
    if let Some(c) = &from.config_map_key_ref {
        sources += 1;
        errs.extend(validate_key_selector(
            &c.name,
            &c.key,
            &path.child("configMapKeyRef"),
        ));
    }
    if let Some(s) = &from.secret_key_ref {
        sources += 1;
        errs.extend(validate_key_selector(
            &s.name,
            &s.key,
            &path.child("secretKeyRef"),
        ));
    }
    if from.file_key_ref.is_some() {
        sources += 1;
    }
    if sources == 0 {
        errs.push(FieldError::invalid(
            path,
            "",
            "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
        ));
    } else if !ev.value.as_deref().unwrap_or("").is_empty() {
        errs.push(FieldError::invalid(
            path,
            "",
            "may not be specified when `value` is not empty",
        ));
    } else if sources > 1 {
        errs.push(FieldError::invalid(
            path,
            "",
            "may not have more than one field specified at a time",
        ));
    }
    errs
}

/// `SplitMaybeSubscriptedPath`: `metadata.labels['x']` → (`metadata.labels`, `x`).
fn split_subscripted(field_path: &str) -> Option<(&str, &str)> {
    let inner = field_path.strip_suffix("']")?;
    let (head, sub) = inner.split_once("['")?;
    (!head.is_empty()).then_some((head, sub))
}

/// `validateObjectFieldSelector` with `ConvertDownwardAPIFieldLabel` for v1 pods.
fn validate_object_field_selector(fs: &ObjectFieldSelector, path: &Path) -> ErrorList {
    let api_version = fs.api_version.as_deref().unwrap_or("");
    if api_version.is_empty() {
        return vec![FieldError::required(&path.child("apiVersion"), "")];
    }
    if fs.field_path.is_empty() {
        return vec![FieldError::required(&path.child("fieldPath"), "")];
    }
    let conversion_error = if api_version != "v1" {
        Some(format!("unsupported pod version: {api_version}"))
    } else if let Some((head, _)) = split_subscripted(&fs.field_path) {
        (!matches!(head, "metadata.annotations" | "metadata.labels"))
            .then(|| format!("field label does not support subscript: {}", fs.field_path))
    } else {
        let known = [
            "metadata.annotations",
            "metadata.labels",
            "metadata.name",
            "metadata.namespace",
            "metadata.uid",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.serviceAccountName",
            "spec.schedulerName",
            "status.phase",
            "status.hostIP",
            "status.hostIPs",
            "status.podIP",
            "status.podIPs",
            "spec.host",
        ];
        (!known.contains(&fs.field_path.as_str()))
            .then(|| format!("field label not supported: {}", fs.field_path))
    };
    if let Some(e) = conversion_error {
        return vec![FieldError::invalid(
            &path.child("fieldPath"),
            fs.field_path.as_str(),
            format!("error converting fieldPath: {e}"),
        )];
    }
    // The legacy `spec.host` converts to `spec.nodeName`.
    let internal = if fs.field_path == "spec.host" {
        "spec.nodeName"
    } else {
        fs.field_path.as_str()
    };
    match split_subscripted(internal) {
        Some(("metadata.annotations", sub)) => validate_qualified_name(&sub.to_lowercase(), path),
        Some(("metadata.labels", sub)) => validate_qualified_name(sub, path),
        Some((head, _)) => vec![FieldError::invalid(
            path,
            head,
            "does not support subscript",
        )],
        None if !ENV_FIELD_PATHS.contains(&internal) => {
            vec![FieldError::not_supported(
                &path.child("fieldPath"),
                internal,
                &ENV_FIELD_PATHS,
            )]
        }
        None => Vec::new(),
    }
}

/// `validateContainerResourceFieldSelector` for env vars (`volume == false`).
fn validate_resource_field_selector(fs: &ResourceFieldSelector, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let resource = fs.resource.as_str();
    if resource.is_empty() {
        errs.push(FieldError::required(&path.child("resource"), ""));
    } else if !RESOURCE_FIELD_PATHS.contains(&resource)
        && !resource.starts_with("requests.hugepages-")
        && !resource.starts_with("limits.hugepages-")
    {
        errs.push(FieldError::not_supported(
            &path.child("resource"),
            resource,
            &RESOURCE_FIELD_PATHS,
        ));
    }
    if let Some(divisor) = fs.divisor.as_ref().and_then(|d| parse_quantity(&d.0).ok()) {
        errs.extend(validate_divisor(resource, &divisor, path));
    }
    errs
}

/// `validateContainerResourceDivisor`.
fn validate_divisor(resource: &str, divisor: &Quantity, path: &Path) -> ErrorList {
    if divisor.is_zero() {
        return Vec::new();
    }
    let d = divisor.canonical();
    const BYTE_DIVISORS: [&str; 13] = [
        "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei",
    ];
    let bytes_msg = |what: &str| {
        format!(
            "only divisor's values 1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei are supported with the {what} resource"
        )
    };
    let mut errs = ErrorList::new();
    let p = path.child("divisor");
    match resource {
        "limits.cpu" | "requests.cpu" if !matches!(d.as_str(), "1m" | "1") => {
            errs.push(FieldError::invalid(
                &p,
                resource,
                "only divisor's values 1m and 1 are supported with the cpu resource",
            ))
        }
        "limits.memory" | "requests.memory" if !BYTE_DIVISORS.contains(&d.as_str()) => {
            errs.push(FieldError::invalid(&p, resource, bytes_msg("memory")))
        }
        "limits.ephemeral-storage" | "requests.ephemeral-storage"
            if !BYTE_DIVISORS.contains(&d.as_str()) =>
        {
            errs.push(FieldError::invalid(
                &p,
                resource,
                bytes_msg("local ephemeral storage"),
            ))
        }
        _ => {}
    }
    if (resource.starts_with("requests.hugepages-") || resource.starts_with("limits.hugepages-"))
        && !BYTE_DIVISORS.contains(&d.as_str())
    {
        errs.push(FieldError::invalid(&p, resource, bytes_msg("hugepages")));
    }
    errs
}

/// `validateConfigMapKeySelector` / `validateSecretKeySelector`: the object name is a DNS
/// subdomain (an empty one fails the regex, as in Go), the key a config-map key.
fn validate_key_selector(name: &str, key: &str, path: &Path) -> ErrorList {
    let mut errs: ErrorList = name_is_dns_subdomain(name, false)
        .into_iter()
        .map(|m| FieldError::invalid(&path.child("name"), name, m))
        .collect();
    if key.is_empty() {
        errs.push(FieldError::required(&path.child("key"), ""));
    } else {
        errs.extend(
            is_config_map_key(key)
                .into_iter()
                .map(|m| FieldError::invalid(&path.child("key"), key, m)),
        );
    }
    errs
}

/// `ValidateEnvFrom`: prefix is an env var name, exactly one of configMapRef and secretRef.
fn validate_env_from(sources: &[EnvFromSource], path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, ev) in sources.iter().enumerate() {
        let p = path.index(i);
        let prefix = ev.prefix.as_deref().unwrap_or("");
        if !prefix.is_empty() {
            errs.extend(
                is_relaxed_env_var_name(prefix)
                    .into_iter()
                    .map(|m| FieldError::invalid(&p.child("prefix"), prefix, m)),
            );
        }
        let mut count = 0;
        let refs = [
            (
                "configMapRef",
                ev.config_map_ref.as_ref().map(|r| r.name.as_str()),
            ),
            ("secretRef", ev.secret_ref.as_ref().map(|r| r.name.as_str())),
        ];
        for (field, name) in refs {
            let Some(name) = name else { continue };
            count += 1;
            let name_path = p.child(field).child("name");
            if name.is_empty() {
                errs.push(FieldError::required(&name_path, ""));
            } else {
                errs.extend(
                    name_is_dns_subdomain(name, true)
                        .into_iter()
                        .map(|m| FieldError::invalid(&name_path, name, m)),
                );
            }
        }
        if count == 0 {
            errs.push(FieldError::invalid(
                path,
                "",
                "must specify one of: `configMapRef` or `secretRef`",
            ));
        } else if count > 1 {
            errs.push(FieldError::invalid(
                path,
                "",
                "may not have more than one field specified at a time",
            ));
        }
    }
    errs
}

/// `validateLocalDescendingPath`: relative, without `..` elements.
pub(crate) fn validate_local_descending_path(target: &str, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if target.starts_with('/') {
        errs.push(FieldError::invalid(path, target, "must be a relative path"));
    }
    errs.extend(validate_path_no_backsteps(target, path));
    errs
}

/// `validatePathNoBacksteps`.
pub(crate) fn validate_path_no_backsteps(target: &str, path: &Path) -> ErrorList {
    if target.split('/').any(|part| part == "..") {
        vec![FieldError::invalid(path, target, "must not contain '..'")]
    } else {
        Vec::new()
    }
}

/// `ValidateVolumeMounts`: each mount names a pod volume, mount paths are unique. Go reports the
/// subPath problems on `volumeMounts.subPath` (no index); kept.
fn validate_volume_mounts(
    mounts: &[VolumeMount],
    ctr: &Container,
    volumes: &BTreeMap<String, VolumeKind>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut mount_paths = BTreeSet::new();
    for (i, m) in mounts.iter().enumerate() {
        let p = path.index(i);
        if m.name.is_empty() {
            errs.push(FieldError::required(&p.child("name"), ""));
        }
        let volume = volumes.get(&m.name);
        if volume.is_none() {
            errs.push(
                FieldError::not_found(&p.child("name"), m.name.as_str()).with_hint(
                    "volumeMounts[].name must be the name of an entry in the pod's spec.volumes",
                ),
            );
        }
        if m.mount_path.is_empty() {
            errs.push(FieldError::required(&p.child("mountPath"), ""));
        }
        if !mount_paths.insert(m.mount_path.as_str()) {
            errs.push(FieldError::invalid(
                &p.child("mountPath"),
                m.mount_path.as_str(),
                "must be unique",
            ));
        }
        let sub_path = m.sub_path.as_deref().unwrap_or("");
        let sub_path_expr = m.sub_path_expr.as_deref().unwrap_or("");
        if volume == Some(&VolumeKind::Image) {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("subPath"),
                    sub_path,
                    "not allowed in image volume sources",
                ));
            }
            if !sub_path_expr.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("subPathExpr"),
                    sub_path_expr,
                    "not allowed in image volume sources",
                ));
            }
        }
        if !sub_path.is_empty() {
            errs.extend(validate_local_descending_path(
                sub_path,
                &path.child("subPath"),
            ));
        }
        if !sub_path_expr.is_empty() {
            if !sub_path.is_empty() {
                errs.push(FieldError::invalid(
                    &p.child("subPathExpr"),
                    sub_path_expr,
                    "subPathExpr and subPath are mutually exclusive",
                ));
            }
            errs.extend(validate_local_descending_path(
                sub_path_expr,
                &path.child("subPathExpr"),
            ));
        }
        if let Some(prop) = &m.mount_propagation {
            let prop_path = path.child("mountPropagation");
            if !matches!(prop.as_str(), "Bidirectional" | "HostToContainer" | "None") {
                errs.push(FieldError::not_supported(
                    &prop_path,
                    prop.as_str(),
                    &["Bidirectional", "HostToContainer", "None"],
                ));
            }
            let privileged = ctr
                .security_context
                .as_ref()
                .and_then(|s| s.privileged)
                .unwrap_or(false);
            if prop == "Bidirectional" && !privileged {
                errs.push(FieldError::forbidden(
                    &prop_path,
                    "Bidirectional mount propagation is available only to privileged containers",
                ));
            }
        }
        if let Some(rro) = &m.recursive_read_only {
            let rro_path = path.child("recursiveReadOnly");
            match rro.as_str() {
                "Disabled" => {}
                "Enabled" | "IfPossible" => {
                    if !m.read_only.unwrap_or(false) {
                        errs.push(FieldError::forbidden(
                            &rro_path,
                            "may only be specified when readOnly is true",
                        ));
                    }
                    if m.mount_propagation.as_deref().is_some_and(|p| p != "None") {
                        errs.push(FieldError::forbidden(
                            &rro_path,
                            "may only be specified when mountPropagation is None or not specified",
                        ));
                    }
                }
                other => errs.push(FieldError::not_supported(
                    &rro_path,
                    other,
                    &["Disabled", "Enabled", "IfPossible"],
                )),
            }
        }
    }
    errs
}

/// `validatePullPolicy`.
fn validate_pull_policy(policy: &str, path: &Path) -> ErrorList {
    match policy {
        "Always" | "IfNotPresent" | "Never" => Vec::new(),
        "" => vec![FieldError::required(path, "")],
        other => vec![FieldError::not_supported(
            path,
            other,
            &["Always", "IfNotPresent", "Never"],
        )],
    }
}

const STANDARD_RESOURCES: [&str; 20] = [
    "cpu",
    "memory",
    "ephemeral-storage",
    "requests.cpu",
    "requests.memory",
    "requests.ephemeral-storage",
    "limits.cpu",
    "limits.memory",
    "limits.ephemeral-storage",
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "storage",
    "requests.storage",
    "services.nodeports",
    "services.loadbalancers",
];

const INTEGER_RESOURCES: [&str; 9] = [
    "pods",
    "resourcequotas",
    "services",
    "replicationcontrollers",
    "secrets",
    "configmaps",
    "persistentvolumeclaims",
    "services.nodeports",
    "services.loadbalancers",
];

fn is_huge_page(name: &str) -> bool {
    name.starts_with("hugepages-")
}

/// `helper.IsNativeResource`: unprefixed or in the kubernetes.io namespace.
fn is_native(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// `helper.IsExtendedResourceName`.
fn is_extended(name: &str) -> bool {
    !is_native(name)
        && !name.starts_with("requests.")
        && is_qualified_name(&format!("requests.{name}")).is_empty()
}

/// `helper.IsOvercommitAllowed`: native and not hugepages.
fn is_overcommit_allowed(name: &str) -> bool {
    is_native(name) && !is_huge_page(name)
}

/// `validateContainerResourceName` (after `validateResourceName`).
fn validate_container_resource_name(name: &str, path: &Path) -> ErrorList {
    let mut errs = validate_qualified_name(name, path);
    if errs.is_empty()
        && !name.contains('/')
        && !(STANDARD_RESOURCES.contains(&name)
            || is_huge_page(name)
            || name.starts_with("requests.hugepages-"))
    {
        errs.push(FieldError::invalid(
            path,
            name,
            "must be a standard resource type or fully qualified",
        ));
    }
    if !name.contains('/') {
        if !(matches!(name, "cpu" | "memory" | "ephemeral-storage") || is_huge_page(name)) {
            errs.push(FieldError::invalid(
                path,
                name,
                "must be a standard resource for containers",
            ));
        }
    } else if !is_native(name) && !is_extended(name) {
        errs.push(FieldError::invalid(
            path,
            name,
            "doesn't follow extended resource name standard",
        ));
    }
    errs
}

/// `ValidateResourceQuantityValue`: not negative; integer resources whole.
fn validate_quantity_value(name: &str, q: &Quantity, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if q.is_negative() {
        errs.push(FieldError::invalid(
            path,
            q.canonical(),
            "must be greater than or equal to 0",
        ));
    }
    if (INTEGER_RESOURCES.contains(&name) || is_extended(name)) && !q.is_whole_in_millis() {
        errs.push(FieldError::invalid(
            path,
            q.canonical(),
            "must be an integer",
        ));
    }
    errs
}

/// `validateResourceQuantityHugePageValue`: a hugepages quantity is a multiple of its page size.
fn validate_huge_page_value(name: &str, q: &Quantity, path: &Path) -> ErrorList {
    let page = name
        .strip_prefix("hugepages-")
        .and_then(|s| parse_quantity(s).ok());
    let divisible = match page {
        Some(page) if !page.is_negative() && !page.is_zero() && page.is_whole_in_millis() => {
            match (q.value_magnitude(), page.value_magnitude()) {
                (Some(v), Some(p)) if p > 0 => v % p == 0,
                _ => false,
            }
        }
        _ => false,
    };
    if divisible {
        Vec::new()
    } else {
        vec![FieldError::invalid(
            path,
            q.canonical(),
            format!(
                "{} is not positive integer multiple of {name}",
                q.canonical()
            ),
        )]
    }
}

fn parsed(list: Option<&BTreeMap<String, ApiQuantity>>) -> Vec<(&str, Option<Quantity>)> {
    list.into_iter()
        .flatten()
        .map(|(k, v)| (k.as_str(), parse_quantity(&v.0).ok()))
        .collect()
}

/// `ValidateContainerResourceRequirements` (V-24): names, non-negative values, requests not above
/// limits (errors on `resources.requests`, as Go reports them), claims that exist in the pod.
/// Unparsable quantities are the decoder's to reject and are skipped here.
fn validate_container_resources(
    res: &ResourceRequirements,
    claim_names: &BTreeSet<String>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let lim_path = path.child("limits");
    let req_path = path.child("requests");
    let limits = parsed(res.limits.as_ref());
    let requests = parsed(res.requests.as_ref());
    let (mut lim_cpu_mem, mut req_cpu_mem, mut lim_huge, mut req_huge) =
        (false, false, false, false);
    for (name, q) in &limits {
        let p = lim_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        let Some(q) = q else { continue };
        errs.extend(validate_quantity_value(name, q, &p));
        if is_huge_page(name) {
            lim_huge = true;
            errs.extend(validate_huge_page_value(name, q, &p));
        }
        lim_cpu_mem |= matches!(*name, "cpu" | "memory");
    }
    for (name, q) in &requests {
        let p = req_path.key(name);
        errs.extend(validate_container_resource_name(name, &p));
        let Some(q) = q else { continue };
        errs.extend(validate_quantity_value(name, q, &p));
        match limits.iter().find(|(n, _)| n == name) {
            Some((_, Some(limit))) => {
                let ord = q.cmp_value(limit);
                if ord != Ordering::Equal && !is_overcommit_allowed(name) {
                    errs.push(FieldError::invalid(
                        &req_path,
                        q.canonical(),
                        format!("must be equal to {name} limit of {}", limit.canonical()),
                    ));
                } else if ord == Ordering::Greater {
                    errs.push(
                        FieldError::invalid(
                            &req_path,
                            q.canonical(),
                            format!(
                                "must be less than or equal to {name} limit of {}",
                                limit.canonical()
                            ),
                        )
                        .with_hint(format!("raise limits.{name} or lower requests.{name}")),
                    );
                }
            }
            Some((_, None)) => {}
            None if !is_overcommit_allowed(name) => {
                errs.push(FieldError::required(
                    &lim_path,
                    "Limit must be set for non overcommitable resources",
                ));
            }
            None => {}
        }
        if is_huge_page(name) {
            req_huge = true;
            errs.extend(validate_huge_page_value(name, q, &p));
        }
        req_cpu_mem |= matches!(*name, "cpu" | "memory");
    }
    if !lim_cpu_mem && !req_cpu_mem && (req_huge || lim_huge) {
        errs.push(FieldError::forbidden(
            path,
            "HugePages require cpu or memory",
        ));
    }
    errs.extend(validate_resource_claim_names(
        res,
        claim_names,
        &path.child("claims"),
    ));
    errs
}

/// `validateResourceClaimNames`: each claim names an entry of `spec.resourceClaims`, once.
fn validate_resource_claim_names(
    res: &ResourceRequirements,
    pod_claims: &BTreeSet<String>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    for (i, claim) in res.claims.iter().flatten().enumerate() {
        let p = path.index(i);
        let name = claim.name.as_str();
        if name.is_empty() {
            errs.push(FieldError::required(&p, ""));
            continue;
        }
        if names.contains(name) {
            errs.push(FieldError::duplicate(&p, name));
        } else {
            let request = claim.request.as_deref().unwrap_or("");
            let mut key = name.to_owned();
            if !request.is_empty() {
                errs.extend(dns1123_label(request, &p.child("request")));
                key = format!("{name}/{request}");
            }
            if names.contains(&key) {
                errs.push(FieldError::duplicate(&p, key.as_str()));
            } else if request.is_empty() {
                let overlaps = names
                    .iter()
                    .filter(|k| k.split_once('/').is_some_and(|(n, _)| n == name))
                    .count();
                errs.extend((0..overlaps).map(|_| FieldError::duplicate(&p, name)));
            }
            names.insert(key);
        }
        if !pod_claims.contains(name) {
            let mut err = FieldError::not_found(&p, name);
            err.detail = if pod_claims.is_empty() {
                "must be one of the names in pod.spec.resourceClaims which is empty".to_owned()
            } else {
                let all: Vec<&str> = pod_claims.iter().map(String::as_str).collect();
                format!(
                    "must be one of the names in pod.spec.resourceClaims: {}",
                    all.join(", ")
                )
            };
            errs.push(err);
        }
    }
    errs
}

/// `validateResizePolicy`.
fn validate_resize_policy(ctr: &Container, pod_restart_policy: &str, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    let mut seen = BTreeSet::new();
    for (i, p) in ctr.resize_policy.iter().flatten().enumerate() {
        if !seen.insert(p.resource_name.as_str()) {
            errs.push(FieldError::duplicate(
                &path.index(i),
                p.resource_name.as_str(),
            ));
        }
        match p.resource_name.as_str() {
            "cpu" | "memory" => {}
            "" => errs.push(FieldError::required(path, "")),
            other => errs.push(FieldError::not_supported(path, other, &["cpu", "memory"])),
        }
        match p.restart_policy.as_str() {
            "NotRequired" | "RestartContainer" => {}
            "" => errs.push(FieldError::required(path, "")),
            other => errs.push(FieldError::not_supported(
                path,
                other,
                &["NotRequired", "RestartContainer"],
            )),
        }
        if pod_restart_policy == "Never" && p.restart_policy != "NotRequired" {
            errs.push(FieldError::invalid(
                path,
                p.restart_policy.as_str(),
                "must be 'NotRequired' when `restartPolicy` is 'Never'",
            ));
        }
    }
    errs
}

/// The basic part of `ValidateSecurityContext`: user and group ids, procMount, seccomp profile.
fn validate_security_context(sc: &SecurityContext, host_users: bool, path: &Path) -> ErrorList {
    let mut errs = ErrorList::new();
    if let Some(uid) = sc.run_as_user {
        errs.extend(
            is_valid_user_id(uid)
                .into_iter()
                .map(|m| FieldError::invalid(&path.child("runAsUser"), uid, m)),
        );
    }
    if let Some(gid) = sc.run_as_group {
        errs.extend(
            is_valid_group_id(gid)
                .into_iter()
                .map(|m| FieldError::invalid(&path.child("runAsGroup"), gid, m)),
        );
    }
    if let Some(pm) = &sc.proc_mount {
        let p = path.child("procMount");
        if !matches!(pm.as_str(), "Default" | "Unmasked") {
            errs.push(FieldError::not_supported(
                &p,
                pm.as_str(),
                &["Default", "Unmasked"],
            ));
        }
        if host_users && pm == "Unmasked" {
            errs.push(FieldError::invalid(
                &p,
                pm.as_str(),
                "`hostUsers` must be false to use `Unmasked`",
            ));
        }
    }
    if let Some(sp) = &sc.seccomp_profile {
        errs.extend(validate_seccomp_profile(
            &sp.type_,
            sp.localhost_profile.as_deref(),
            &path.child("seccompProfile"),
        ));
    }
    errs
}

/// `validateSeccompProfileField`.
pub(crate) fn validate_seccomp_profile(
    kind: &str,
    localhost: Option<&str>,
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    let type_path = path.child("type");
    match kind {
        "Localhost" | "RuntimeDefault" | "Unconfined" => {}
        "" => errs.push(FieldError::required(
            &type_path,
            "type is required when seccompProfile is set",
        )),
        other => errs.push(FieldError::not_supported(
            &type_path,
            other,
            &["Localhost", "RuntimeDefault", "Unconfined"],
        )),
    }
    let lp_path = path.child("localhostProfile");
    match (kind, localhost) {
        ("Localhost", None) => {
            errs.push(FieldError::required(
                &lp_path,
                "must be set when seccomp type is Localhost",
            ));
        }
        ("Localhost", Some(lp)) => errs.extend(validate_local_descending_path(lp, &lp_path)),
        (_, Some(lp)) => {
            // Go renders the internal SeccompProfile struct, whose JSON has Go field names.
            let value = serde_json::json!({"Type": kind, "LocalhostProfile": lp});
            errs.push(FieldError::invalid(
                &lp_path,
                value,
                "can only be set when seccomp type is Localhost",
            ));
        }
        (_, None) => {}
    }
    errs
}

/// `ValidateTolerations` (V-26).
pub(crate) fn validate_tolerations(
    tolerations: &[k8s_openapi::api::core::v1::Toleration],
    path: &Path,
) -> ErrorList {
    let mut errs = ErrorList::new();
    for (i, t) in tolerations.iter().enumerate() {
        let p = path.index(i);
        let key = t.key.as_deref().unwrap_or("");
        let operator = t.operator.as_deref().unwrap_or("");
        let effect = t.effect.as_deref().unwrap_or("");
        let value = t.value.as_deref().unwrap_or("");
        if !key.is_empty() {
            errs.extend(validate_label_name(key, &p.child("key")));
        }
        if key.is_empty() && operator != "Exists" {
            errs.push(FieldError::invalid(
                &p.child("operator"),
                operator,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if t.toleration_seconds.is_some() && effect != "NoExecute" {
            errs.push(FieldError::invalid(
                &p.child("effect"),
                effect,
                "effect must be 'NoExecute' when `tolerationSeconds` is set",
            ));
        }
        match operator {
            "Equal" | "" => {
                let msgs = crate::validation::names::is_valid_label_value(value);
                if !msgs.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        value,
                        msgs.join(";"),
                    ));
                }
            }
            "Exists" => {
                if !value.is_empty() {
                    errs.push(FieldError::invalid(
                        &p.child("operator"),
                        value,
                        "value must be empty when `operator` is 'Exists'",
                    ));
                }
            }
            other => errs.push(FieldError::not_supported(
                &p.child("operator"),
                other,
                &["Equal", "Exists"],
            )),
        }
        if !effect.is_empty() && !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute")
        {
            errs.push(FieldError::not_supported(
                &p.child("effect"),
                effect,
                &["NoSchedule", "PreferNoSchedule", "NoExecute"],
            ));
        }
    }
    errs
}
