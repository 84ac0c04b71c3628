//! Pod template, pod and defaulting behaviour as a Job or CronJob manifest meets it
//! (validation.md §2). Each case names its rule id and the exact `field: message` Kubernetes
//! prints.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EnvVar, EnvVarSource, ObjectFieldSelector, Pod, PodSchedulingGate,
    PodSpec, PodTemplateSpec, ResourceRequirements, SecretVolumeSource, Toleration, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kbatch_core::defaults::pod::{default_pod, default_pod_spec};
use kbatch_core::field::Path;
use kbatch_core::validation::pod::{
    parse_quantity, validate_pod, validate_pod_template_spec, validate_pod_update,
};

const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

fn ctr(name: &str, image: &str) -> Container {
    Container {
        name: name.to_owned(),
        image: (!image.is_empty()).then(|| image.to_owned()),
        ..Default::default()
    }
}

fn resources(limits: &[(&str, &str)], requests: &[(&str, &str)]) -> Option<ResourceRequirements> {
    let list = |items: &[(&str, &str)]| {
        (!items.is_empty()).then(|| {
            items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Quantity((*v).to_owned())))
                .collect::<BTreeMap<_, _>>()
        })
    };
    Some(ResourceRequirements {
        limits: list(limits),
        requests: list(requests),
        claims: None,
    })
}

/// A Job-like template: one busybox container, restartPolicy Never, defaulted.
fn base_spec() -> PodSpec {
    let mut spec = PodSpec {
        containers: vec![ctr("main", "busybox:1.36")],
        restart_policy: Some("Never".to_owned()),
        ..Default::default()
    };
    default_pod_spec(&mut spec);
    spec
}

fn template(spec: PodSpec) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta::default()),
        spec: Some(spec),
    }
}

fn template_errors(t: &PodTemplateSpec) -> Vec<String> {
    validate_pod_template_spec(t, &Path::new("spec").child("template"))
        .iter()
        .map(ToString::to_string)
        .collect()
}

type Mutation = fn(&mut PodSpec);

/// (rule id, mutation of a valid defaulted spec, the exact errors Kubernetes reports)
fn spec_cases() -> Vec<(&'static str, Mutation, Vec<String>)> {
    let p = "spec.template.spec";
    vec![
        ("valid base", |_| {}, vec![]),
        (
            "V-20 no containers",
            |s| s.containers.clear(),
            vec![format!("{p}.containers: Required value")],
        ),
        (
            "V-21 name required",
            |s| s.containers[0].name.clear(),
            vec![format!("{p}.containers[0].name: Required value")],
        ),
        (
            "V-21 name is a DNS label",
            |s| s.containers[0].name = "Main".into(),
            vec![format!(
                "{p}.containers[0].name: Invalid value: \"Main\": {LABEL_MSG}"
            )],
        ),
        (
            "V-21 names unique within containers",
            |s| s.containers.push(s.containers[0].clone()),
            vec![format!("{p}.containers[1].name: Duplicate value: \"main\"")],
        ),
        (
            "V-21 names unique across initContainers",
            |s| s.init_containers = Some(vec![s.containers[0].clone()]),
            vec![format!(
                "{p}.initContainers[0].name: Duplicate value: \"main\""
            )],
        ),
        (
            "V-22 image required",
            |s| s.containers[0].image = None,
            vec![format!("{p}.containers[0].image: Required value")],
        ),
        (
            "V-22 initContainers need an image too",
            |s| {
                let mut init = s.containers[0].clone();
                init.name = "setup".into();
                init.image = None;
                s.init_containers = Some(vec![init]);
            },
            vec![format!("{p}.initContainers[0].image: Required value")],
        ),
        (
            "V-22 templates accept blanks around the image",
            |s| s.containers[0].image = Some(" busybox ".into()),
            vec![],
        ),
        (
            "V-24 negative quantity",
            |s| s.containers[0].resources = resources(&[("cpu", "-1")], &[]),
            vec![format!(
                "{p}.containers[0].resources.limits[cpu]: Invalid value: \"-1\": must be greater than or equal to 0"
            )],
        ),
        (
            "V-24 request above limit is reported on resources.requests",
            |s| s.containers[0].resources = resources(&[("cpu", "1")], &[("cpu", "2")]),
            vec![format!(
                "{p}.containers[0].resources.requests: Invalid value: \"2\": must be less than or equal to cpu limit of 1"
            )],
        ),
        (
            "V-24 quantities compare by value",
            |s| {
                s.containers[0].resources = resources(
                    &[("cpu", "1"), ("memory", "1Gi")],
                    &[("cpu", "1000m"), ("memory", "1024Mi")],
                )
            },
            vec![],
        ),
        (
            "V-24 canonical forms in messages",
            |s| {
                s.containers[0].resources = resources(
                    &[("memory", "512Mi")],
                    &[("memory", "0.5Gi"), ("cpu", "-0.5")],
                )
            },
            vec![format!(
                "{p}.containers[0].resources.requests[cpu]: Invalid value: \"-500m\": must be greater than or equal to 0"
            )],
        ),
        (
            "V-24 unknown unprefixed resource",
            |s| s.containers[0].resources = resources(&[("gpu", "1")], &[]),
            vec![
                format!(
                    "{p}.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource type or fully qualified"
                ),
                format!(
                    "{p}.containers[0].resources.limits[gpu]: Invalid value: \"gpu\": must be a standard resource for containers"
                ),
            ],
        ),
        (
            "V-24 extended resources are whole and not overcommitted",
            |s| s.containers[0].resources = resources(&[], &[("example.com/gpu", "1.5")]),
            vec![
                format!(
                    "{p}.containers[0].resources.requests[example.com/gpu]: Invalid value: \"1500m\": must be an integer"
                ),
                format!(
                    "{p}.containers[0].resources.limits: Required value: Limit must be set for non overcommitable resources"
                ),
            ],
        ),
        (
            "V-25 env names are printable ASCII without '='",
            |s| {
                s.containers[0].env = Some(vec![EnvVar {
                    name: "A=B".into(),
                    value: Some("x".into()),
                    value_from: None,
                }])
            },
            vec![format!(
                "{p}.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"
            )],
        ),
        (
            "V-25 relaxed names accept what C identifiers do not",
            |s| {
                s.containers[0].env = Some(vec![EnvVar {
                    name: "1.my var".into(),
                    value: None,
                    value_from: None,
                }])
            },
            vec![],
        ),
        (
            "V-25 env name required",
            |s| s.containers[0].env = Some(vec![EnvVar::default()]),
            vec![format!("{p}.containers[0].env[0].name: Required value")],
        ),
        (
            "V-25 valueFrom needs one source",
            |s| {
                s.containers[0].env = Some(vec![EnvVar {
                    name: "A".into(),
                    value: None,
                    value_from: Some(EnvVarSource::default()),
                }])
            },
            vec![format!(
                "{p}.containers[0].env[0].valueFrom: Invalid value: \"\": must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
            )],
        ),
        (
            "V-25 valueFrom excludes value",
            |s| {
                s.containers[0].env = Some(vec![EnvVar {
                    name: "A".into(),
                    value: Some("x".into()),
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".into()),
                            field_path: "metadata.name".into(),
                        }),
                        ..Default::default()
                    }),
                }])
            },
            vec![format!(
                "{p}.containers[0].env[0].valueFrom: Invalid value: \"\": may not be specified when `value` is not empty"
            )],
        ),
        (
            "V-25 fieldRef paths for env",
            |s| {
                s.containers[0].env = Some(vec![EnvVar {
                    name: "A".into(),
                    value: None,
                    value_from: Some(EnvVarSource {
                        field_ref: Some(ObjectFieldSelector {
                            api_version: Some("v1".into()),
                            field_path: "metadata.labels".into(),
                        }),
                        ..Default::default()
                    }),
                }])
            },
            vec![format!(
                "{p}.containers[0].env[0].valueFrom.fieldRef.fieldPath: Unsupported value: \"metadata.labels\": supported values: \"metadata.name\", \"metadata.namespace\", \"metadata.uid\", \"spec.nodeName\", \"spec.serviceAccountName\", \"status.hostIP\", \"status.hostIPs\", \"status.podIP\", \"status.podIPs\""
            )],
        ),
        (
            "V-26 containerPort required",
            |s| {
                s.containers[0].ports = Some(vec![ContainerPort {
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }])
            },
            vec![format!(
                "{p}.containers[0].ports[0].containerPort: Required value"
            )],
        ),
        (
            "V-26 containerPort range",
            |s| {
                s.containers[0].ports = Some(vec![ContainerPort {
                    container_port: 70000,
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }])
            },
            vec![format!(
                "{p}.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
            )],
        ),
        (
            "V-26 protocol",
            |s| {
                s.containers[0].ports = Some(vec![ContainerPort {
                    container_port: 80,
                    protocol: Some("HTTP".into()),
                    ..Default::default()
                }])
            },
            vec![format!(
                "{p}.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\""
            )],
        ),
        (
            "V-26 port names are unique IANA names",
            |s| {
                let port = |n: i32, name: &str| ContainerPort {
                    container_port: n,
                    name: Some(name.into()),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                };
                s.containers[0].ports =
                    Some(vec![port(80, "web"), port(81, "web"), port(82, "8080")]);
            },
            vec![
                format!("{p}.containers[0].ports[1].name: Duplicate value: \"web\""),
                format!(
                    "{p}.containers[0].ports[2].name: Invalid value: \"8080\": must contain at least one letter (a-z)"
                ),
            ],
        ),
        (
            "V-26 volumeMounts name an existing volume",
            |s| {
                s.containers[0].volume_mounts = Some(vec![VolumeMount {
                    name: "data".into(),
                    mount_path: "/data".into(),
                    ..Default::default()
                }])
            },
            vec![format!(
                "{p}.containers[0].volumeMounts[0].name: Not found: \"data\""
            )],
        ),
        (
            "V-26 volume names are unique DNS labels",
            |s| {
                let v = |n: &str| Volume {
                    name: n.into(),
                    empty_dir: Some(Default::default()),
                    ..Default::default()
                };
                s.volumes = Some(vec![v("data"), v("data"), v("Data")]);
            },
            vec![
                format!("{p}.volumes[1].name: Duplicate value: \"data\""),
                format!("{p}.volumes[2].name: Invalid value: \"Data\": {LABEL_MSG}"),
            ],
        ),
        (
            "V-26 one source per volume",
            |s| {
                s.volumes = Some(vec![Volume {
                    name: "v".into(),
                    empty_dir: Some(Default::default()),
                    secret: Some(SecretVolumeSource {
                        secret_name: Some("s".into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }])
            },
            vec![format!(
                "{p}.volumes[0].secret: Forbidden: may not specify more than 1 volume type"
            )],
        ),
        (
            "V-26 restartPolicy values",
            |s| s.restart_policy = Some("Sometimes".into()),
            vec![format!(
                "{p}.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
            )],
        ),
        (
            "V-26 dnsPolicy values",
            |s| s.dns_policy = Some("Cluster".into()),
            vec![format!(
                "{p}.dnsPolicy: Unsupported value: \"Cluster\": supported values: \"ClusterFirstWithHostNet\", \"ClusterFirst\", \"Default\", \"None\""
            )],
        ),
        (
            "V-26 imagePullPolicy values",
            |s| s.containers[0].image_pull_policy = Some("Sometimes".into()),
            vec![format!(
                "{p}.containers[0].imagePullPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"IfNotPresent\", \"Never\""
            )],
        ),
        (
            "V-26 terminationMessagePolicy values",
            |s| s.containers[0].termination_message_policy = Some("Log".into()),
            vec![format!(
                "{p}.containers[0].terminationMessagePolicy: Unsupported value: \"Log\": supported values: \"File\", \"FallbackToLogsOnError\""
            )],
        ),
        (
            "V-26 pod activeDeadlineSeconds is positive",
            |s| s.active_deadline_seconds = Some(0),
            vec![format!(
                "{p}.activeDeadlineSeconds: Invalid value: 0: must be between 1 and 2147483647, inclusive"
            )],
        ),
        (
            "V-26 terminationGracePeriodSeconds: negative is only a warning in Kubernetes",
            |s| s.termination_grace_period_seconds = Some(-5),
            vec![],
        ),
        (
            "V-26 nodeSelector keys are label keys",
            |s| s.node_selector = Some(BTreeMap::from([("a/b/c".into(), "x".into())])),
            vec![format!(
                "{p}.nodeSelector: Invalid value: \"a/b/c\": a valid label key must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )],
        ),
        (
            "V-26 tolerations",
            |s| {
                s.tolerations = Some(vec![
                    Toleration {
                        operator: Some("Equal".into()),
                        ..Default::default()
                    },
                    Toleration {
                        key: Some("k".into()),
                        operator: Some("Exists".into()),
                        value: Some("v".into()),
                        effect: Some("NoRun".into()),
                        ..Default::default()
                    },
                ])
            },
            vec![
                format!(
                    "{p}.tolerations[0].operator: Invalid value: \"Equal\": operator must be Exists when `key` is empty, which means \"match all values and all keys\""
                ),
                format!(
                    "{p}.tolerations[1].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'"
                ),
                format!(
                    "{p}.tolerations[1].effect: Unsupported value: \"NoRun\": supported values: \"NoSchedule\", \"PreferNoSchedule\", \"NoExecute\""
                ),
            ],
        ),
        (
            "V-26 hostname and subdomain are DNS labels",
            |s| {
                s.hostname = Some("a.b".into());
                s.subdomain = Some("-x".into());
            },
            vec![
                format!("{p}.hostname: Invalid value: \"a.b\": must not contain dots"),
                format!("{p}.subdomain: Invalid value: \"-x\": {LABEL_MSG}"),
            ],
        ),
        (
            "V-26 serviceAccountName and runtimeClassName are DNS subdomains",
            |s| {
                s.service_account_name = Some("Builder".into());
                s.runtime_class_name = Some("gVisor".into());
            },
            vec![
                format!("{p}.serviceAccountName: Invalid value: \"Builder\": {SUBDOMAIN_MSG}"),
                format!("{p}.runtimeClassName: Invalid value: \"gVisor\": {SUBDOMAIN_MSG}"),
            ],
        ),
        (
            "V-26 schedulingGates are unique qualified names",
            |s| {
                s.scheduling_gates = Some(vec![
                    PodSchedulingGate {
                        name: "example.com/wait".into(),
                    },
                    PodSchedulingGate {
                        name: "example.com/wait".into(),
                    },
                ])
            },
            vec![format!(
                "{p}.schedulingGates[1]: Duplicate value: \"example.com/wait\""
            )],
        ),
        (
            "V-20 every error is collected",
            |s| {
                s.containers[0].name.clear();
                s.containers[0].image = None;
                s.dns_policy = None;
            },
            vec![
                format!("{p}.containers[0].name: Required value"),
                format!("{p}.containers[0].image: Required value"),
                format!("{p}.dnsPolicy: Required value"),
            ],
        ),
    ]
}

#[test]
fn pod_template_spec_rules() {
    let mut failures = Vec::new();
    for (id, mutate, want) in spec_cases() {
        let mut spec = base_spec();
        mutate(&mut spec);
        let got = template_errors(&template(spec));
        if got != want {
            failures.push(format!("{id}:\n  got  {got:#?}\n  want {want:#?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn v22_missing_image_has_a_hint() {
    let mut spec = base_spec();
    spec.containers[0].image = None;
    let errs = validate_pod_template_spec(&template(spec), &Path::new("spec").child("template"));
    assert_eq!(
        errs[0].message(),
        "Required value\nhint: set spec.template.spec.containers[0].image to the container image to run, e.g. busybox:1.36"
    );
}

#[test]
fn v3_template_labels_use_gos_path() {
    let mut t = template(base_spec());
    t.metadata = Some(ObjectMeta {
        labels: Some(BTreeMap::from([("app".into(), "-x".into())])),
        ..Default::default()
    });
    let errs = template_errors(&t);
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with(
        "spec.template.labels: Invalid value: \"-x\": a valid label must be an empty string"
    ));
}

#[test]
fn v24_unparsable_quantity_error_text() {
    assert_eq!(
        parse_quantity("1.5 cores").err().as_deref(),
        Some(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        )
    );
    assert_eq!(
        parse_quantity("1Kii").err().as_deref(),
        Some("unable to parse quantity's suffix")
    );
}

#[test]
fn v23_a_job_template_without_restart_policy_defaults_to_always() {
    let mut spec = PodSpec {
        containers: vec![ctr("main", "busybox")],
        ..Default::default()
    };
    default_pod_spec(&mut spec);
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
}

#[test]
fn template_defaults_match_a_real_cluster() {
    let mut c = ctr("main", "busybox");
    c.ports = Some(vec![ContainerPort {
        container_port: 80,
        ..Default::default()
    }]);
    c.env = Some(vec![EnvVar {
        name: "POD".into(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: None,
                field_path: "metadata.name".into(),
            }),
            ..Default::default()
        }),
    }]);
    c.resources = resources(&[("cpu", "1000m"), ("memory", "0.5Gi")], &[]);
    let mut spec = PodSpec {
        containers: vec![c],
        volumes: Some(vec![
            Volume {
                name: "scratch".into(),
                ..Default::default()
            },
            Volume {
                name: "creds".into(),
                secret: Some(SecretVolumeSource {
                    secret_name: Some("s".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    default_pod_spec(&mut spec);
    assert_eq!(spec.dns_policy.as_deref(), Some("ClusterFirst"));
    assert_eq!(spec.restart_policy.as_deref(), Some("Always"));
    assert_eq!(spec.termination_grace_period_seconds, Some(30));
    assert_eq!(spec.scheduler_name.as_deref(), Some("default-scheduler"));
    assert!(spec.security_context.is_some());
    assert_eq!(
        spec.enable_service_links, None,
        "enableServiceLinks is a Pod-only default"
    );
    let c = &spec.containers[0];
    assert_eq!(c.image_pull_policy.as_deref(), Some("Always"));
    assert_eq!(
        c.termination_message_path.as_deref(),
        Some("/dev/termination-log")
    );
    assert_eq!(c.termination_message_policy.as_deref(), Some("File"));
    assert_eq!(
        c.ports.as_ref().and_then(|p| p[0].protocol.as_deref()),
        Some("TCP")
    );
    let field_ref = c
        .env
        .as_ref()
        .and_then(|e| e[0].value_from.as_ref())
        .and_then(|v| v.field_ref.as_ref());
    assert_eq!(field_ref.and_then(|f| f.api_version.as_deref()), Some("v1"));
    let res = c.resources.as_ref().expect("resources");
    let limits = res.limits.as_ref().expect("limits");
    assert_eq!(limits["cpu"].0, "1");
    assert_eq!(limits["memory"].0, "512Mi");
    assert_eq!(
        res.requests, None,
        "templates do not copy limits into requests"
    );
    let volumes = spec.volumes.as_ref().expect("volumes");
    assert!(volumes[0].empty_dir.is_some());
    assert_eq!(
        volumes[1].secret.as_ref().and_then(|s| s.default_mode),
        Some(420)
    );
}

fn pod(spec: PodSpec) -> Pod {
    let mut pod = Pod {
        metadata: ObjectMeta {
            name: Some("p".into()),
            namespace: Some("default".into()),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    };
    default_pod(&mut pod);
    pod
}

fn texts(errs: &[kbatch_core::field::FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

#[test]
fn v24_pod_requests_default_to_limits() {
    let mut c = ctr("main", "busybox:1.36");
    c.resources = resources(&[("cpu", "500m")], &[]);
    let p = pod(PodSpec {
        containers: vec![c],
        ..Default::default()
    });
    let spec = p.spec.as_ref().expect("spec");
    let requests = spec.containers[0]
        .resources
        .as_ref()
        .and_then(|r| r.requests.as_ref())
        .expect("requests");
    assert_eq!(requests["cpu"].0, "500m");
    assert_eq!(spec.enable_service_links, Some(true));
    assert!(validate_pod(&p).is_empty());
}

#[test]
fn v1_v2_pod_metadata() {
    let mut p = pod(PodSpec {
        containers: vec![ctr("main", "busybox:1.36")],
        ..Default::default()
    });
    p.metadata = ObjectMeta::default();
    assert_eq!(
        texts(&validate_pod(&p)),
        [
            "metadata.name: Required value: name or generateName is required",
            "metadata.namespace: Required value"
        ]
    );
}

#[test]
fn v22_pods_reject_blanks_around_the_image() {
    let p = pod(PodSpec {
        containers: vec![ctr("main", " busybox")],
        ..Default::default()
    });
    assert_eq!(
        texts(&validate_pod(&p)),
        [
            "spec.containers[0].image: Invalid value: \" busybox\": must not have leading or trailing whitespace"
        ]
    );
}

#[test]
fn v26_pod_updates() {
    let mut old = pod(PodSpec {
        containers: vec![ctr("main", "busybox:1.36")],
        ..Default::default()
    });
    old.metadata.resource_version = Some("1".into());

    let mut new = old.clone();
    if let Some(s) = new.spec.as_mut() {
        s.containers[0].image = Some("busybox:1.37".into());
        s.active_deadline_seconds = Some(60);
    }
    assert!(
        validate_pod_update(&new, &old).is_empty(),
        "images and activeDeadlineSeconds may change"
    );

    let mut new = old.clone();
    if let Some(s) = new.spec.as_mut() {
        s.restart_policy = Some("Never".into());
    }
    assert_eq!(
        texts(&validate_pod_update(&new, &old)),
        [
            "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"
        ]
    );

    let mut new = old.clone();
    if let Some(s) = new.spec.as_mut() {
        let mut extra = s.containers[0].clone();
        extra.name = "extra".into();
        s.containers.push(extra);
    }
    assert_eq!(
        texts(&validate_pod_update(&new, &old)),
        ["spec.containers: Forbidden: pod updates may not add or remove containers"]
    );

    let mut older = old.clone();
    if let Some(s) = older.spec.as_mut() {
        s.active_deadline_seconds = Some(30);
    }
    let mut new = older.clone();
    if let Some(s) = new.spec.as_mut() {
        s.active_deadline_seconds = Some(60);
    }
    assert_eq!(
        texts(&validate_pod_update(&new, &older)),
        [
            "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"
        ]
    );

    let mut new = old.clone();
    new.metadata.resource_version = None;
    assert_eq!(
        texts(&validate_pod_update(&new, &old)),
        ["metadata.resourceVersion: Invalid value: \"\": must be specified for an update"]
    );
}
