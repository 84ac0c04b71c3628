//! Matching a failed pod against `spec.podFailurePolicy` (J-60..J-65), as
//! `pod_failure_policy.go` does.

use k8s_openapi::api::batch::v1::{PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};

/// A rule's action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    FailJob,
    FailIndex,
    Ignore,
    Count,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        match s {
            "FailJob" => Some(Action::FailJob),
            "FailIndex" => Some(Action::FailIndex),
            "Ignore" => Some(Action::Ignore),
            "Count" => Some(Action::Count),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::FailJob => "FailJob",
            Action::FailIndex => "FailIndex",
            Action::Ignore => "Ignore",
            Action::Count => "Count",
        }
    }
}

/// What the policy says about one failed pod (`matchPodFailurePolicy`'s three results).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyMatch {
    /// The Job's failure message when a FailJob rule matched (J-63).
    pub fail_job_message: Option<String>,
    /// Whether the failure counts toward backoffLimit(PerIndex): false for Ignore.
    pub count_failed: bool,
    /// The matched rule's action; None when no rule matched.
    pub action: Option<Action>,
}

impl PolicyMatch {
    const UNMATCHED: PolicyMatch = PolicyMatch {
        fail_job_message: None,
        count_failed: true,
        action: None,
    };
}

/// `matchPodFailurePolicy` (J-63): the first rule, in order, that matches the pod. Without a
/// policy every failure counts.
pub fn match_policy(policy: Option<&PodFailurePolicy>, pod: &Pod) -> PolicyMatch {
    let Some(policy) = policy else {
        return PolicyMatch::UNMATCHED;
    };
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    for (index, rule) in policy.rules.iter().enumerate() {
        // A rule with an action this controller does not know is passed over, as Go's switch
        // without a matching case falls through to the next rule.
        let Some(action) = Action::parse(&rule.action) else {
            continue;
        };
        let fail_job_message = if let Some(requirement) = rule.on_exit_codes.as_ref() {
            let Some(container) = match_exit_codes(pod, requirement) else {
                continue;
            };
            let code = terminated_exit_code(container).unwrap_or(0);
            format!(
                "Container {} for pod {namespace}/{name} failed with exit code {code} matching {} rule at index {index}",
                container.name, rule.action
            )
        } else if let Some(patterns) = rule.on_pod_conditions.as_ref() {
            let Some(condition_type) = match_pod_conditions(pod, patterns) else {
                continue;
            };
            format!(
                "Pod {namespace}/{name} has condition {condition_type} matching {} rule at index {index}",
                rule.action
            )
        } else {
            continue;
        };
        return match action {
            Action::Ignore => PolicyMatch {
                fail_job_message: None,
                count_failed: false,
                action: Some(action),
            },
            Action::FailIndex | Action::Count => PolicyMatch {
                fail_job_message: None,
                count_failed: true,
                action: Some(action),
            },
            Action::FailJob => PolicyMatch {
                fail_job_message: Some(fail_job_message),
                count_failed: true,
                action: Some(action),
            },
        };
    }
    PolicyMatch::UNMATCHED
}

/// `matchOnExitCodes`: the first terminated container with a non-zero exit code that the
/// requirement matches, regular containers before init containers.
fn match_exit_codes<'p>(
    pod: &'p Pod,
    requirement: &PodFailurePolicyOnExitCodesRequirement,
) -> Option<&'p ContainerStatus> {
    let status = pod.status.as_ref()?;
    let lists = [
        status.container_statuses.as_deref(),
        status.init_container_statuses.as_deref(),
    ];
    lists.into_iter().flatten().find_map(|list| {
        list.iter().find(|c| {
            let Some(code) = terminated_exit_code(c) else {
                return false;
            };
            let named = requirement
                .container_name
                .as_deref()
                .is_none_or(|n| n == c.name);
            named && code != 0 && operator_matches(code, requirement)
        })
    })
}

fn terminated_exit_code(c: &ContainerStatus) -> Option<i32> {
    c.state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(|t| t.exit_code)
}

fn operator_matches(code: i32, requirement: &PodFailurePolicyOnExitCodesRequirement) -> bool {
    match requirement.operator.as_str() {
        "In" => requirement.values.contains(&code),
        "NotIn" => !requirement.values.contains(&code),
        _ => false,
    }
}

/// `matchOnPodConditions`: the type of the first pod condition (in the pod's order) whose type
/// and status equal one of the patterns'. A pattern's status defaults to True.
fn match_pod_conditions<'p>(
    pod: &'p Pod,
    patterns: &[k8s_openapi::api::batch::v1::PodFailurePolicyOnPodConditionsPattern],
) -> Option<&'p str> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    conditions.iter().find_map(|c| {
        patterns
            .iter()
            .any(|p| p.type_ == c.type_ && p.status.as_deref().unwrap_or("True") == c.status)
            .then_some(c.type_.as_str())
    })
}
