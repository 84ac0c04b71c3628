//! A container's environment and command line as kubelet makes them
//! (`makeEnvironmentVariables`, `ExpandContainerCommandAndArgs`): `env` in order, each value
//! expanded against the variables before it (`$(VAR)`, `$$` for a literal `$`), `valueFrom`
//! through the downward API (`fieldRef`, `resourceFieldRef`) or a ConfigMap's or Secret's
//! key, after the `envFrom` sources; then `command` and `args` expanded against the whole
//! environment.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret};

use crate::resources::{Allocatable, downward_value};
use crate::sources::Sources;

/// Why a container's environment cannot be made; kubelet reports it as the container's
/// `CreateContainerConfigError` and tries again on the next sync.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EnvError(pub String);

/// What the downward API reads from the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFacts {
    /// `status.hostIP` and `status.podIP` (pods share the node's network).
    pub ip: String,
    pub allocatable: Allocatable,
    /// The variables of the `kubernetes` service every container gets, whatever its
    /// `enableServiceLinks` (kubelet's master service env): `KUBERNETES_SERVICE_HOST`,
    /// `KUBERNETES_SERVICE_PORT` and the Docker-link ones; empty without an API address.
    pub service_env: Vec<(String, String)>,
}

/// A container's environment, and what kubelet warns about while making it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    pub vars: Vec<(String, String)>,
    /// `InvalidEnvironmentVariableNames` event messages: keys of an `envFrom` source that
    /// cannot be variable names and were skipped.
    pub skipped: Vec<String>,
}

/// `IsEnvVarName`: `[-._a-zA-Z][-._a-zA-Z0-9]*`.
fn is_env_var_name(name: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_');
    name.chars()
        .next()
        .is_some_and(|c| ok(c) && !c.is_ascii_digit())
        && name.chars().all(ok)
}

/// kubelet's message for a ConfigMap that cannot be read: its configmap manager's
/// not-found error names the resource in the singular.
pub fn config_map_not_found(name: &str) -> String {
    format!("configmap {name:?} not found")
}

/// The same for a Secret.
pub fn secret_not_found(name: &str) -> String {
    format!("secret {name:?} not found")
}

/// The environment of `container` (`makeEnvironmentVariables`): `base` (what an image
/// would give: PATH, HOSTNAME, HOME) overridden by the node's service variables, then the
/// container's `envFrom` sources in order, then its `env`. `sources` holds the ConfigMaps and Secrets they name, as read
/// from the API ([`crate::sources::Wanted::of_container`]).
pub fn environment(
    pod: &Pod,
    container: &Container,
    node: &NodeFacts,
    base: &[(String, String)],
    sources: &Sources,
) -> Result<Environment, EnvError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    let mut skipped = Vec::new();
    // The container's own variables in order of first appearance; a repeated name keeps its
    // first place and its last value (kubelet's map has no order at all).
    let mut own: Vec<(String, String)> = Vec::new();
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.as_deref().unwrap_or("");
        let (what, name, entries): (&str, &str, Vec<(String, String)>) =
            if let Some(cm) = &from.config_map_ref {
                let Some(found) = config_map(sources, &cm.name, cm.optional)? else {
                    continue;
                };
                let data = found.data.clone().unwrap_or_default();
                ("configMap", cm.name.as_str(), data.into_iter().collect())
            } else if let Some(sr) = &from.secret_ref {
                let Some(found) = secret(sources, &sr.name, sr.optional)? else {
                    continue;
                };
                let data = found.data.clone().unwrap_or_default();
                let entries = data
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect();
                ("secret", sr.name.as_str(), entries)
            } else {
                continue;
            };
        let mut invalid = Vec::new();
        for (key, value) in entries {
            let var = format!("{prefix}{key}");
            if !is_env_var_name(&var) {
                invalid.push(var);
                continue;
            }
            set(&mut own, &var, value);
        }
        if !invalid.is_empty() {
            invalid.sort();
            skipped.push(format!(
                "Keys [{}] from the EnvFrom {what} {namespace}/{name} were skipped since they are considered invalid environment variable names.",
                invalid.join(", ")
            ));
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value_from, var.value.as_deref()) {
            (_, Some(raw)) if !raw.is_empty() => expand(raw, |name| {
                lookup(&own, name).or_else(|| lookup(&node.service_env, name))
            }),
            (None, _) => String::new(),
            (Some(source), _) => {
                if let Some(field) = &source.field_ref {
                    field_value(pod, &field.field_path, node)?
                } else if let Some(resource) = &source.resource_field_ref {
                    let target = match resource.container_name.as_deref() {
                        None | Some("") => container,
                        Some(name) => find_container(pod, name).ok_or_else(|| {
                            EnvError(format!("container {name:?} not found in pod"))
                        })?,
                    };
                    downward_value(
                        target,
                        &resource.resource,
                        resource.divisor.as_ref(),
                        &node.allocatable,
                    )
                    .map_err(EnvError)?
                } else if let Some(sel) = &source.config_map_key_ref {
                    let Some(found) = config_map(sources, &sel.name, sel.optional)? else {
                        continue;
                    };
                    match found.data.as_ref().and_then(|d| d.get(&sel.key)) {
                        Some(v) => v.clone(),
                        None if sel.optional == Some(true) => continue,
                        None => {
                            return Err(EnvError(format!(
                                "couldn't find key {} in ConfigMap {namespace}/{}",
                                sel.key, sel.name
                            )));
                        }
                    }
                } else if let Some(sel) = &source.secret_key_ref {
                    let Some(found) = secret(sources, &sel.name, sel.optional)? else {
                        continue;
                    };
                    match found.data.as_ref().and_then(|d| d.get(&sel.key)) {
                        Some(v) => String::from_utf8_lossy(&v.0).into_owned(),
                        None if sel.optional == Some(true) => continue,
                        None => {
                            return Err(EnvError(format!(
                                "couldn't find key {} in Secret {namespace}/{}",
                                sel.key, sel.name
                            )));
                        }
                    }
                } else {
                    String::new()
                }
            }
        };
        set(&mut own, &var.name, value);
    }
    let mut all: Vec<(String, String)> = base.to_vec();
    // Container env, then service env: the container's own win (`makeEnvironmentVariables`).
    for (name, value) in node.service_env.iter().cloned().chain(own) {
        set(&mut all, &name, value);
    }
    Ok(Environment { vars: all, skipped })
}

/// A ConfigMap the environment names: `None` when it is missing and optional.
fn config_map<'a>(
    sources: &'a Sources,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<&'a ConfigMap>, EnvError> {
    match sources.config_maps.get(name).and_then(Option::as_ref) {
        Some(found) => Ok(Some(found)),
        None if optional == Some(true) => Ok(None),
        None => Err(EnvError(config_map_not_found(name))),
    }
}

fn secret<'a>(
    sources: &'a Sources,
    name: &str,
    optional: Option<bool>,
) -> Result<Option<&'a Secret>, EnvError> {
    match sources.secrets.get(name).and_then(Option::as_ref) {
        Some(found) => Ok(Some(found)),
        None if optional == Some(true) => Ok(None),
        None => Err(EnvError(secret_not_found(name))),
    }
}

fn set(vars: &mut Vec<(String, String)>, name: &str, value: String) {
    match vars.iter_mut().find(|(n, _)| n == name) {
        Some(slot) => slot.1 = value,
        None => vars.push((name.to_owned(), value)),
    }
}

pub(crate) fn lookup<'a>(vars: &'a [(String, String)], name: &str) -> Option<&'a str> {
    vars.iter()
        .rev()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<&'a Container> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .find(|c| c.name == name)
}

/// `podFieldSelectorRuntimeValue` and `fieldpath.ExtractFieldPathAsString`.
pub(crate) fn field_value(pod: &Pod, path: &str, node: &NodeFacts) -> Result<String, EnvError> {
    let meta = &pod.metadata;
    let spec = pod.spec.as_ref();
    if let Some((base, key)) = split_subscript(path) {
        let map = match base {
            "metadata.labels" => meta.labels.as_ref(),
            "metadata.annotations" => meta.annotations.as_ref(),
            _ => {
                return Err(EnvError(format!(
                    "fieldPath {base:?} does not support subscript"
                )));
            }
        };
        return Ok(map.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    let s = |v: &Option<String>| v.clone().unwrap_or_default();
    Ok(match path {
        "metadata.name" => s(&meta.name),
        "metadata.namespace" => s(&meta.namespace),
        "metadata.uid" => s(&meta.uid),
        "metadata.labels" => format_map(meta.labels.as_ref()),
        "metadata.annotations" => format_map(meta.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" | "status.podIP" | "status.podIPs" => node.ip.clone(),
        other => return Err(EnvError(format!("unsupported fieldPath: {other}"))),
    })
}

/// `fieldpath.SplitMaybeSubscriptedPath`: `metadata.labels['key']` → (`metadata.labels`, `key`).
fn split_subscript(path: &str) -> Option<(&str, &str)> {
    let inner = path.strip_suffix("']")?;
    let (base, key) = inner.split_once("['")?;
    (!base.is_empty()).then_some((base, key))
}

/// `fieldpath.FormatMap`: `key="value"` lines, sorted by key, values quoted as Go's `%q`.
fn format_map(map: Option<&BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `strconv.Quote`.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `third_party/forked/golang/expansion.Expand`: `$(NAME)` becomes the variable's value, or
/// stays as written when the variable is unknown; `$$` is a literal `$`; a `$` before
/// anything else stays.
pub fn expand<'a>(input: &str, mapping: impl Fn(&str) -> Option<&'a str>) -> String {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.extend_from_slice(&bytes[checkpoint..cursor]);
            let rest = &bytes[cursor + 1..];
            let advance = match rest[0] {
                b'$' => {
                    out.push(b'$');
                    1
                }
                b'(' => match rest.iter().position(|&b| b == b')') {
                    Some(close) => {
                        let name = String::from_utf8_lossy(&rest[1..close]);
                        match mapping(&name) {
                            Some(v) => out.extend_from_slice(v.as_bytes()),
                            None => {
                                out.extend_from_slice(b"$(");
                                out.extend_from_slice(name.as_bytes());
                                out.push(b')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.extend_from_slice(b"$(");
                        1
                    }
                },
                other => {
                    // Go appends `string(input[0])`: the byte read as a code point.
                    out.push(b'$');
                    let mut buf = [0; 4];
                    out.extend_from_slice(char::from(other).encode_utf8(&mut buf).as_bytes());
                    1
                }
            };
            cursor += advance;
            checkpoint = cursor + 1;
        }
        cursor += 1;
    }
    out.extend_from_slice(&bytes[checkpoint.min(bytes.len())..]);
    String::from_utf8_lossy(&out).into_owned()
}

/// The process's argv: `command` then `args`, each expanded against the environment.
pub fn command_line(container: &Container, env: &[(String, String)]) -> Vec<String> {
    container
        .command
        .iter()
        .flatten()
        .chain(container.args.iter().flatten())
        .map(|word| expand(word, |name| lookup(env, name)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }

    /// Cases from the expansion package's tests.
    #[test]
    fn expansion_as_kubernetes_does_it() {
        let vars = [("VAR_A", "A"), ("VAR_B", "B"), ("VAR_EMPTY", "")];
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_A)", "A-A"),
            ("$(VAR_EMPTY)x", "x"),
            ("$(VAR_DNE)", "$(VAR_DNE)"),
            ("$$(VAR_B)", "$(VAR_B)"),
            ("$$$(VAR_A)", "$A"),
            ("$(VAR_A", "$(VAR_A"),
            ("$VAR_A", "$VAR_A"),
            ("$", "$"),
            ("x$", "x$"),
            ("$)", "$)"),
            ("$()", "$()"),
            ("f000-$$VAR_B", "f000-$VAR_B"),
        ];
        for (input, want) in cases {
            assert_eq!(expand(input, map(&vars)), want, "{input}");
        }
    }

    fn pod() -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {
                "name": "p", "namespace": "ns", "uid": "u-1",
                "labels": {"batch.kubernetes.io/job-completion-index": "3", "b": "x\"y"},
                "annotations": {"a": "1"}
            },
            "spec": {
                "nodeName": "n1",
                "containers": [{
                    "name": "c",
                    "command": ["echo", "$(GREETING)", "$(MISSING)"],
                    "args": ["$$(GREETING)"],
                    "resources": {"limits": {"memory": "1Mi"}},
                    "env": [
                        {"name": "GREETING", "value": "hi $(POD)"},
                        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                        {"name": "AGAIN", "value": "$(POD)-$(GREETING)"},
                        {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                            "fieldPath": "metadata.labels['batch.kubernetes.io/job-completion-index']"}}},
                        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                        {"name": "UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
                        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "LABELS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}},
                        {"name": "ANN", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['a']"}}},
                        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory"}}},
                        {"name": "PATH", "value": "/bin"}
                    ]
                }]
            }
        }))
        .unwrap()
    }

    fn node() -> NodeFacts {
        NodeFacts {
            ip: "127.0.0.1".into(),
            allocatable: Allocatable {
                cpu_millis: 2000,
                memory_bytes: 1 << 30,
                ephemeral_storage_bytes: 1 << 30,
            },
            service_env: Vec::new(),
        }
    }

    #[test]
    fn env_and_command_line() {
        let pod = pod();
        let c = &pod.spec.as_ref().unwrap().containers[0];
        let base = vec![
            ("PATH".to_owned(), "/usr/bin".to_owned()),
            ("HOSTNAME".to_owned(), "p".to_owned()),
        ];
        let env = environment(&pod, c, &node(), &base, &Sources::default())
            .unwrap()
            .vars;
        let get = |n: &str| lookup(&env, n).unwrap().to_owned();
        // GREETING refers to POD before POD is defined: it stays unexpanded.
        assert_eq!(get("GREETING"), "hi $(POD)");
        assert_eq!(get("AGAIN"), "p-hi $(POD)");
        assert_eq!(get("JOB_COMPLETION_INDEX"), "3");
        assert_eq!(get("NS"), "ns");
        assert_eq!(get("UID"), "u-1");
        assert_eq!(get("NODE"), "n1");
        assert_eq!(get("IP"), "127.0.0.1");
        assert_eq!(
            get("LABELS"),
            "b=\"x\\\"y\"\nbatch.kubernetes.io/job-completion-index=\"3\""
        );
        assert_eq!(get("ANN"), "1");
        assert_eq!(get("MEM"), "1048576");
        assert_eq!(get("PATH"), "/bin");
        assert_eq!(get("HOSTNAME"), "p");
        assert_eq!(env[0].0, "PATH", "base variables keep their place");
        assert_eq!(
            command_line(c, &env),
            ["echo", "hi $(POD)", "$(MISSING)", "$(GREETING)"]
        );
    }

    fn sources() -> Sources {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "settings", "namespace": "ns"},
            "data": {"LEVEL": "debug", "1BAD": "x", "URL": "http://$(POD)"}
        }))
        .unwrap();
        let secret: Secret = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "creds", "namespace": "ns"},
            "data": {"password": "aHVudGVyMg=="}
        }))
        .unwrap();
        let mut s = Sources::default();
        s.config_maps.insert("settings".into(), Some(cm));
        s.config_maps.insert("absent".into(), None);
        s.secrets.insert("creds".into(), Some(secret));
        s
    }

    fn with_env(env: serde_json::Value, env_from: serde_json::Value) -> (Pod, Container) {
        let mut pod = pod();
        let c = &mut pod.spec.as_mut().unwrap().containers[0];
        c.env = Some(serde_json::from_value(env).unwrap());
        c.env_from = Some(serde_json::from_value(env_from).unwrap());
        let c = c.clone();
        (pod, c)
    }

    #[test]
    fn config_maps_and_secrets() {
        let (pod, c) = with_env(
            serde_json::json!([
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}},
                {"name": "LEVEL", "value": "$(APP_LEVEL)!"},
                {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k", "optional": true}}},
                {"name": "OPTKEY", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "nope", "optional": true}}}
            ]),
            serde_json::json!([
                {"configMapRef": {"name": "settings"}, "prefix": "APP_"},
                {"secretRef": {"name": "creds"}},
                {"configMapRef": {"name": "settings"}},
                {"configMapRef": {"name": "absent", "optional": true}}
            ]),
        );
        let env = environment(&pod, &c, &node(), &[], &sources()).unwrap();
        let get = |n: &str| lookup(&env.vars, n).map(str::to_owned);
        assert_eq!(get("PASSWORD").as_deref(), Some("hunter2"));
        assert_eq!(get("password").as_deref(), Some("hunter2"));
        assert_eq!(get("APP_LEVEL").as_deref(), Some("debug"));
        // Env overrides envFrom, and expands against it.
        assert_eq!(get("LEVEL").as_deref(), Some("debug!"));
        assert_eq!(get("APP_1BAD").as_deref(), Some("x"));
        // envFrom values are taken as they are, never expanded.
        assert_eq!(get("URL").as_deref(), Some("http://$(POD)"));
        assert_eq!(get("OPT"), None);
        assert_eq!(get("OPTKEY"), None);
        assert_eq!(get("1BAD"), None);
        assert_eq!(
            env.skipped,
            [
                "Keys [1BAD] from the EnvFrom configMap ns/settings were skipped since they are considered invalid environment variable names."
            ]
        );
    }

    /// kubelet's words for each way a reference can fail; they become the container's
    /// `CreateContainerConfigError` message.
    #[test]
    fn create_container_config_errors() {
        let cases = [
            (
                serde_json::json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]),
                serde_json::json!([]),
                "configmap \"absent\" not found",
            ),
            (
                serde_json::json!([{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "k"}}}]),
                serde_json::json!([]),
                "couldn't find key k in ConfigMap ns/settings",
            ),
            (
                serde_json::json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "user"}}}]),
                serde_json::json!([]),
                "couldn't find key user in Secret ns/creds",
            ),
            (
                serde_json::json!([{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]),
                serde_json::json!([]),
                "secret \"s\" not found",
            ),
            (
                serde_json::json!([]),
                serde_json::json!([{"configMapRef": {"name": "absent"}}]),
                "configmap \"absent\" not found",
            ),
            (
                serde_json::json!([]),
                serde_json::json!([{"secretRef": {"name": "other"}}]),
                "secret \"other\" not found",
            ),
        ];
        for (env, env_from, want) in cases {
            let (pod, c) = with_env(env, env_from);
            let err = environment(&pod, &c, &node(), &[], &sources()).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
    }

    #[test]
    fn env_var_names() {
        for ok in ["A", "a.b-c_d", "_1", "-x", ".x"] {
            assert!(is_env_var_name(ok), "{ok}");
        }
        for bad in ["", "1A", "a b", "a=b", "é"] {
            assert!(!is_env_var_name(bad), "{bad}");
        }
    }
}
