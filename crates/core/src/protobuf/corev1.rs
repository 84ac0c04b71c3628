//! core/v1: Pod, Namespace, ConfigMap, Secret and ServiceAccount, the pod template Jobs carry, and every volume source, probe,
//! affinity and status type reachable from them.

use k8s_pb::api::core::v1 as pb;

use super::convert::to_json;

to_json! {
    pb::ConfigMap {
        req metadata: "metadata",
        ptr immutable: "immutable",
        map data: "data",
        map binary_data: "binaryData",
    }
    pb::Secret {
        req metadata: "metadata",
        ptr immutable: "immutable",
        map data: "data",
        map string_data: "stringData",
        omit r#type: "type",
    }
    pb::ServiceAccount {
        req metadata: "metadata",
        list secrets: "secrets",
        list image_pull_secrets: "imagePullSecrets",
        ptr automount_service_account_token: "automountServiceAccountToken",
    }
    pb::Namespace {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }
    pb::Pod {
        req metadata: "metadata",
        req spec: "spec",
        req status: "status",
    }
    pb::NamespaceSpec {
        list finalizers: "finalizers",
    }
    pb::NamespaceStatus {
        omit phase: "phase",
        list conditions: "conditions",
    }
    pb::PodSpec {
        list volumes: "volumes",
        list init_containers: "initContainers",
        nlist containers: "containers",
        list ephemeral_containers: "ephemeralContainers",
        omit restart_policy: "restartPolicy",
        ptr termination_grace_period_seconds: "terminationGracePeriodSeconds",
        ptr active_deadline_seconds: "activeDeadlineSeconds",
        omit dns_policy: "dnsPolicy",
        map node_selector: "nodeSelector",
        omit service_account_name: "serviceAccountName",
        omit service_account: "serviceAccount",
        ptr automount_service_account_token: "automountServiceAccountToken",
        omit node_name: "nodeName",
        omit host_network: "hostNetwork",
        omit host_pid: "hostPID",
        omit host_ipc: "hostIPC",
        ptr share_process_namespace: "shareProcessNamespace",
        ptr security_context: "securityContext",
        list image_pull_secrets: "imagePullSecrets",
        omit hostname: "hostname",
        omit subdomain: "subdomain",
        ptr affinity: "affinity",
        omit scheduler_name: "schedulerName",
        list tolerations: "tolerations",
        list host_aliases: "hostAliases",
        omit priority_class_name: "priorityClassName",
        ptr priority: "priority",
        ptr dns_config: "dnsConfig",
        list readiness_gates: "readinessGates",
        ptr runtime_class_name: "runtimeClassName",
        ptr enable_service_links: "enableServiceLinks",
        ptr preemption_policy: "preemptionPolicy",
        map overhead: "overhead",
        list topology_spread_constraints: "topologySpreadConstraints",
        ptr set_hostname_as_fqdn: "setHostnameAsFQDN",
        ptr os: "os",
        ptr host_users: "hostUsers",
        list scheduling_gates: "schedulingGates",
        list resource_claims: "resourceClaims",
        ptr resources: "resources",
        ptr hostname_override: "hostnameOverride",
        ptr workload_ref: "workloadRef",
    }
    pb::PodStatus {
        omit observed_generation: "observedGeneration",
        omit phase: "phase",
        list conditions: "conditions",
        omit message: "message",
        omit reason: "reason",
        omit nominated_node_name: "nominatedNodeName",
        omit host_ip: "hostIP",
        list host_ips: "hostIPs",
        omit pod_ip: "podIP",
        list pod_ips: "podIPs",
        ptr start_time: "startTime",
        list init_container_statuses: "initContainerStatuses",
        list container_statuses: "containerStatuses",
        omit qos_class: "qosClass",
        list ephemeral_container_statuses: "ephemeralContainerStatuses",
        omit resize: "resize",
        list resource_claim_statuses: "resourceClaimStatuses",
        ptr extended_resource_claim_status: "extendedResourceClaimStatus",
        map allocated_resources: "allocatedResources",
        ptr resources: "resources",
    }
    pb::PodTemplateSpec {
        req metadata: "metadata",
        req spec: "spec",
    }
    pb::ObjectReference {
        omit kind: "kind",
        omit namespace: "namespace",
        omit name: "name",
        omit uid: "uid",
        omit api_version: "apiVersion",
        omit resource_version: "resourceVersion",
        omit field_path: "fieldPath",
    }
    pb::NamespaceCondition {
        req r#type: "type",
        req status: "status",
        req last_transition_time: "lastTransitionTime",
        omit reason: "reason",
        omit message: "message",
    }
    pb::Volume {
        req name: "name",
        inline volume_source,
    }
    pb::Container {
        req name: "name",
        omit image: "image",
        list command: "command",
        list args: "args",
        omit working_dir: "workingDir",
        list ports: "ports",
        list env_from: "envFrom",
        list env: "env",
        req resources: "resources",
        list resize_policy: "resizePolicy",
        ptr restart_policy: "restartPolicy",
        list restart_policy_rules: "restartPolicyRules",
        list volume_mounts: "volumeMounts",
        list volume_devices: "volumeDevices",
        ptr liveness_probe: "livenessProbe",
        ptr readiness_probe: "readinessProbe",
        ptr startup_probe: "startupProbe",
        ptr lifecycle: "lifecycle",
        omit termination_message_path: "terminationMessagePath",
        omit termination_message_policy: "terminationMessagePolicy",
        omit image_pull_policy: "imagePullPolicy",
        ptr security_context: "securityContext",
        omit stdin: "stdin",
        omit stdin_once: "stdinOnce",
        omit tty: "tty",
    }
    pb::EphemeralContainer {
        inline ephemeral_container_common,
        omit target_container_name: "targetContainerName",
    }
    pb::PodSecurityContext {
        ptr se_linux_options: "seLinuxOptions",
        ptr windows_options: "windowsOptions",
        ptr run_as_user: "runAsUser",
        ptr run_as_group: "runAsGroup",
        ptr run_as_non_root: "runAsNonRoot",
        list supplemental_groups: "supplementalGroups",
        ptr supplemental_groups_policy: "supplementalGroupsPolicy",
        ptr fs_group: "fsGroup",
        list sysctls: "sysctls",
        ptr fs_group_change_policy: "fsGroupChangePolicy",
        ptr seccomp_profile: "seccompProfile",
        ptr app_armor_profile: "appArmorProfile",
        ptr se_linux_change_policy: "seLinuxChangePolicy",
    }
    pb::LocalObjectReference {
        omit name: "name",
    }
    pb::Affinity {
        ptr node_affinity: "nodeAffinity",
        ptr pod_affinity: "podAffinity",
        ptr pod_anti_affinity: "podAntiAffinity",
    }
    pb::Toleration {
        omit key: "key",
        omit operator: "operator",
        omit value: "value",
        omit effect: "effect",
        ptr toleration_seconds: "tolerationSeconds",
    }
    pb::HostAlias {
        req ip: "ip",
        list hostnames: "hostnames",
    }
    pb::PodDnsConfig {
        list nameservers: "nameservers",
        list searches: "searches",
        list options: "options",
    }
    pb::PodReadinessGate {
        req condition_type: "conditionType",
    }
    pb::TopologySpreadConstraint {
        req max_skew: "maxSkew",
        req topology_key: "topologyKey",
        req when_unsatisfiable: "whenUnsatisfiable",
        ptr label_selector: "labelSelector",
        ptr min_domains: "minDomains",
        ptr node_affinity_policy: "nodeAffinityPolicy",
        ptr node_taints_policy: "nodeTaintsPolicy",
        list match_label_keys: "matchLabelKeys",
    }
    pb::PodOs {
        req name: "name",
    }
    pb::PodSchedulingGate {
        req name: "name",
    }
    pb::PodResourceClaim {
        req name: "name",
        ptr resource_claim_name: "resourceClaimName",
        ptr resource_claim_template_name: "resourceClaimTemplateName",
    }
    pb::ResourceRequirements {
        map limits: "limits",
        map requests: "requests",
        list claims: "claims",
    }
    pb::WorkloadReference {
        req name: "name",
        req pod_group: "podGroup",
        omit pod_group_replica_key: "podGroupReplicaKey",
    }
    pb::PodCondition {
        req r#type: "type",
        omit observed_generation: "observedGeneration",
        req status: "status",
        req last_probe_time: "lastProbeTime",
        req last_transition_time: "lastTransitionTime",
        omit reason: "reason",
        omit message: "message",
    }
    pb::HostIp {
        req ip: "ip",
    }
    pb::PodIp {
        req ip: "ip",
    }
    pb::ContainerStatus {
        req name: "name",
        req state: "state",
        req last_state: "lastState",
        req ready: "ready",
        req restart_count: "restartCount",
        req image: "image",
        req image_id: "imageID",
        omit container_id: "containerID",
        ptr started: "started",
        map allocated_resources: "allocatedResources",
        ptr resources: "resources",
        list volume_mounts: "volumeMounts",
        ptr user: "user",
        list allocated_resources_status: "allocatedResourcesStatus",
        ptr stop_signal: "stopSignal",
    }
    pb::PodResourceClaimStatus {
        req name: "name",
        ptr resource_claim_name: "resourceClaimName",
    }
    pb::PodExtendedResourceClaimStatus {
        nlist request_mappings: "requestMappings",
        req resource_claim_name: "resourceClaimName",
    }
    pb::VolumeSource {
        ptr host_path: "hostPath",
        ptr empty_dir: "emptyDir",
        ptr gce_persistent_disk: "gcePersistentDisk",
        ptr aws_elastic_block_store: "awsElasticBlockStore",
        ptr git_repo: "gitRepo",
        ptr secret: "secret",
        ptr nfs: "nfs",
        ptr iscsi: "iscsi",
        ptr glusterfs: "glusterfs",
        ptr persistent_volume_claim: "persistentVolumeClaim",
        ptr rbd: "rbd",
        ptr flex_volume: "flexVolume",
        ptr cinder: "cinder",
        ptr cephfs: "cephfs",
        ptr flocker: "flocker",
        ptr downward_api: "downwardAPI",
        ptr fc: "fc",
        ptr azure_file: "azureFile",
        ptr config_map: "configMap",
        ptr vsphere_volume: "vsphereVolume",
        ptr quobyte: "quobyte",
        ptr azure_disk: "azureDisk",
        ptr photon_persistent_disk: "photonPersistentDisk",
        ptr projected: "projected",
        ptr portworx_volume: "portworxVolume",
        ptr scale_io: "scaleIO",
        ptr storageos: "storageos",
        ptr csi: "csi",
        ptr ephemeral: "ephemeral",
        ptr image: "image",
    }
    pb::ContainerPort {
        omit name: "name",
        omit host_port: "hostPort",
        req container_port: "containerPort",
        omit protocol: "protocol",
        omit host_ip: "hostIP",
    }
    pb::EnvFromSource {
        omit prefix: "prefix",
        ptr config_map_ref: "configMapRef",
        ptr secret_ref: "secretRef",
    }
    pb::EnvVar {
        req name: "name",
        omit value: "value",
        ptr value_from: "valueFrom",
    }
    pb::ContainerResizePolicy {
        req resource_name: "resourceName",
        req restart_policy: "restartPolicy",
    }
    pb::ContainerRestartRule {
        omit action: "action",
        ptr exit_codes: "exitCodes",
    }
    pb::VolumeMount {
        req name: "name",
        omit read_only: "readOnly",
        ptr recursive_read_only: "recursiveReadOnly",
        req mount_path: "mountPath",
        omit sub_path: "subPath",
        ptr mount_propagation: "mountPropagation",
        omit sub_path_expr: "subPathExpr",
    }
    pb::VolumeDevice {
        req name: "name",
        req device_path: "devicePath",
    }
    pb::Probe {
        inline handler,
        omit initial_delay_seconds: "initialDelaySeconds",
        omit timeout_seconds: "timeoutSeconds",
        omit period_seconds: "periodSeconds",
        omit success_threshold: "successThreshold",
        omit failure_threshold: "failureThreshold",
        ptr termination_grace_period_seconds: "terminationGracePeriodSeconds",
    }
    pb::Lifecycle {
        ptr post_start: "postStart",
        ptr pre_stop: "preStop",
        ptr stop_signal: "stopSignal",
    }
    pb::SecurityContext {
        ptr capabilities: "capabilities",
        ptr privileged: "privileged",
        ptr se_linux_options: "seLinuxOptions",
        ptr windows_options: "windowsOptions",
        ptr run_as_user: "runAsUser",
        ptr run_as_group: "runAsGroup",
        ptr run_as_non_root: "runAsNonRoot",
        ptr read_only_root_filesystem: "readOnlyRootFilesystem",
        ptr allow_privilege_escalation: "allowPrivilegeEscalation",
        ptr proc_mount: "procMount",
        ptr seccomp_profile: "seccompProfile",
        ptr app_armor_profile: "appArmorProfile",
    }
    pb::EphemeralContainerCommon {
        req name: "name",
        omit image: "image",
        list command: "command",
        list args: "args",
        omit working_dir: "workingDir",
        list ports: "ports",
        list env_from: "envFrom",
        list env: "env",
        req resources: "resources",
        list resize_policy: "resizePolicy",
        ptr restart_policy: "restartPolicy",
        list restart_policy_rules: "restartPolicyRules",
        list volume_mounts: "volumeMounts",
        list volume_devices: "volumeDevices",
        ptr liveness_probe: "livenessProbe",
        ptr readiness_probe: "readinessProbe",
        ptr startup_probe: "startupProbe",
        ptr lifecycle: "lifecycle",
        omit termination_message_path: "terminationMessagePath",
        omit termination_message_policy: "terminationMessagePolicy",
        omit image_pull_policy: "imagePullPolicy",
        ptr security_context: "securityContext",
        omit stdin: "stdin",
        omit stdin_once: "stdinOnce",
        omit tty: "tty",
    }
    pb::SeLinuxOptions {
        omit user: "user",
        omit role: "role",
        omit r#type: "type",
        omit level: "level",
    }
    pb::WindowsSecurityContextOptions {
        ptr gmsa_credential_spec_name: "gmsaCredentialSpecName",
        ptr gmsa_credential_spec: "gmsaCredentialSpec",
        ptr run_as_user_name: "runAsUserName",
        ptr host_process: "hostProcess",
    }
    pb::Sysctl {
        req name: "name",
        req value: "value",
    }
    pb::SeccompProfile {
        req r#type: "type",
        ptr localhost_profile: "localhostProfile",
    }
    pb::AppArmorProfile {
        req r#type: "type",
        ptr localhost_profile: "localhostProfile",
    }
    pb::NodeAffinity {
        ptr required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        list preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }
    pb::PodAffinity {
        list required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        list preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }
    pb::PodAntiAffinity {
        list required_during_scheduling_ignored_during_execution: "requiredDuringSchedulingIgnoredDuringExecution",
        list preferred_during_scheduling_ignored_during_execution: "preferredDuringSchedulingIgnoredDuringExecution",
    }
    pb::PodDnsConfigOption {
        omit name: "name",
        ptr value: "value",
    }
    pb::ResourceClaim {
        req name: "name",
        omit request: "request",
    }
    pb::ContainerState {
        ptr waiting: "waiting",
        ptr running: "running",
        ptr terminated: "terminated",
    }
    pb::VolumeMountStatus {
        req name: "name",
        req mount_path: "mountPath",
        omit read_only: "readOnly",
        ptr recursive_read_only: "recursiveReadOnly",
    }
    pb::ContainerUser {
        ptr linux: "linux",
    }
    pb::ResourceStatus {
        req name: "name",
        list resources: "resources",
    }
    pb::ContainerExtendedResourceRequest {
        req container_name: "containerName",
        req resource_name: "resourceName",
        req request_name: "requestName",
    }
    pb::HostPathVolumeSource {
        req path: "path",
        ptr r#type: "type",
    }
    pb::EmptyDirVolumeSource {
        omit medium: "medium",
        ptr size_limit: "sizeLimit",
    }
    pb::GcePersistentDiskVolumeSource {
        req pd_name: "pdName",
        omit fs_type: "fsType",
        omit partition: "partition",
        omit read_only: "readOnly",
    }
    pb::AwsElasticBlockStoreVolumeSource {
        req volume_id: "volumeID",
        omit fs_type: "fsType",
        omit partition: "partition",
        omit read_only: "readOnly",
    }
    pb::GitRepoVolumeSource {
        req repository: "repository",
        omit revision: "revision",
        omit directory: "directory",
    }
    pb::SecretVolumeSource {
        omit secret_name: "secretName",
        list items: "items",
        ptr default_mode: "defaultMode",
        ptr optional: "optional",
    }
    pb::NfsVolumeSource {
        req server: "server",
        req path: "path",
        omit read_only: "readOnly",
    }
    pb::IscsiVolumeSource {
        req target_portal: "targetPortal",
        req iqn: "iqn",
        req lun: "lun",
        omit iscsi_interface: "iscsiInterface",
        omit fs_type: "fsType",
        omit read_only: "readOnly",
        list portals: "portals",
        omit chap_auth_discovery: "chapAuthDiscovery",
        omit chap_auth_session: "chapAuthSession",
        ptr secret_ref: "secretRef",
        ptr initiator_name: "initiatorName",
    }
    pb::GlusterfsVolumeSource {
        req endpoints: "endpoints",
        req path: "path",
        omit read_only: "readOnly",
    }
    pb::PersistentVolumeClaimVolumeSource {
        req claim_name: "claimName",
        omit read_only: "readOnly",
    }
    pb::RbdVolumeSource {
        nlist monitors: "monitors",
        req image: "image",
        omit fs_type: "fsType",
        omit pool: "pool",
        omit user: "user",
        omit keyring: "keyring",
        ptr secret_ref: "secretRef",
        omit read_only: "readOnly",
    }
    pb::FlexVolumeSource {
        req driver: "driver",
        omit fs_type: "fsType",
        ptr secret_ref: "secretRef",
        omit read_only: "readOnly",
        map options: "options",
    }
    pb::CinderVolumeSource {
        req volume_id: "volumeID",
        omit fs_type: "fsType",
        omit read_only: "readOnly",
        ptr secret_ref: "secretRef",
    }
    pb::CephFsVolumeSource {
        nlist monitors: "monitors",
        omit path: "path",
        omit user: "user",
        omit secret_file: "secretFile",
        ptr secret_ref: "secretRef",
        omit read_only: "readOnly",
    }
    pb::FlockerVolumeSource {
        omit dataset_name: "datasetName",
        omit dataset_uuid: "datasetUUID",
    }
    pb::DownwardAPIVolumeSource {
        list items: "items",
        ptr default_mode: "defaultMode",
    }
    pb::FcVolumeSource {
        list target_ww_ns: "targetWWNs",
        ptr lun: "lun",
        omit fs_type: "fsType",
        omit read_only: "readOnly",
        list wwids: "wwids",
    }
    pb::AzureFileVolumeSource {
        req secret_name: "secretName",
        req share_name: "shareName",
        omit read_only: "readOnly",
    }
    pb::ConfigMapVolumeSource {
        inline local_object_reference,
        list items: "items",
        ptr default_mode: "defaultMode",
        ptr optional: "optional",
    }
    pb::VsphereVirtualDiskVolumeSource {
        req volume_path: "volumePath",
        omit fs_type: "fsType",
        omit storage_policy_name: "storagePolicyName",
        omit storage_policy_id: "storagePolicyID",
    }
    pb::QuobyteVolumeSource {
        req registry: "registry",
        req volume: "volume",
        omit read_only: "readOnly",
        omit user: "user",
        omit group: "group",
        omit tenant: "tenant",
    }
    pb::AzureDiskVolumeSource {
        req disk_name: "diskName",
        req disk_uri: "diskURI",
        ptr caching_mode: "cachingMode",
        ptr fs_type: "fsType",
        ptr read_only: "readOnly",
        ptr kind: "kind",
    }
    pb::PhotonPersistentDiskVolumeSource {
        req pd_id: "pdID",
        omit fs_type: "fsType",
    }
    pb::ProjectedVolumeSource {
        nlist sources: "sources",
        ptr default_mode: "defaultMode",
    }
    pb::PortworxVolumeSource {
        req volume_id: "volumeID",
        omit fs_type: "fsType",
        omit read_only: "readOnly",
    }
    pb::ScaleIoVolumeSource {
        req gateway: "gateway",
        req system: "system",
        ptr secret_ref: "secretRef",
        omit ssl_enabled: "sslEnabled",
        omit protection_domain: "protectionDomain",
        omit storage_pool: "storagePool",
        omit storage_mode: "storageMode",
        omit volume_name: "volumeName",
        omit fs_type: "fsType",
        omit read_only: "readOnly",
    }
    pb::StorageOsVolumeSource {
        omit volume_name: "volumeName",
        omit volume_namespace: "volumeNamespace",
        omit fs_type: "fsType",
        omit read_only: "readOnly",
        ptr secret_ref: "secretRef",
    }
    pb::CSIVolumeSource {
        req driver: "driver",
        ptr read_only: "readOnly",
        ptr fs_type: "fsType",
        map volume_attributes: "volumeAttributes",
        ptr node_publish_secret_ref: "nodePublishSecretRef",
    }
    pb::EphemeralVolumeSource {
        ptr volume_claim_template: "volumeClaimTemplate",
    }
    pb::ImageVolumeSource {
        omit reference: "reference",
        omit pull_policy: "pullPolicy",
    }
    pb::ConfigMapEnvSource {
        inline local_object_reference,
        ptr optional: "optional",
    }
    pb::SecretEnvSource {
        inline local_object_reference,
        ptr optional: "optional",
    }
    pb::EnvVarSource {
        ptr field_ref: "fieldRef",
        ptr resource_field_ref: "resourceFieldRef",
        ptr config_map_key_ref: "configMapKeyRef",
        ptr secret_key_ref: "secretKeyRef",
        ptr file_key_ref: "fileKeyRef",
    }
    pb::ContainerRestartRuleOnExitCodes {
        omit operator: "operator",
        list values: "values",
    }
    pb::ProbeHandler {
        ptr exec: "exec",
        ptr http_get: "httpGet",
        ptr tcp_socket: "tcpSocket",
        ptr grpc: "grpc",
    }
    pb::LifecycleHandler {
        ptr exec: "exec",
        ptr http_get: "httpGet",
        ptr tcp_socket: "tcpSocket",
        ptr sleep: "sleep",
    }
    pb::Capabilities {
        list add: "add",
        list drop: "drop",
    }
    pb::NodeSelector {
        nlist node_selector_terms: "nodeSelectorTerms",
    }
    pb::PreferredSchedulingTerm {
        req weight: "weight",
        req preference: "preference",
    }
    pb::PodAffinityTerm {
        ptr label_selector: "labelSelector",
        list namespaces: "namespaces",
        req topology_key: "topologyKey",
        ptr namespace_selector: "namespaceSelector",
        list match_label_keys: "matchLabelKeys",
        list mismatch_label_keys: "mismatchLabelKeys",
    }
    pb::WeightedPodAffinityTerm {
        req weight: "weight",
        req pod_affinity_term: "podAffinityTerm",
    }
    pb::ContainerStateWaiting {
        omit reason: "reason",
        omit message: "message",
    }
    pb::ContainerStateRunning {
        req started_at: "startedAt",
    }
    pb::ContainerStateTerminated {
        req exit_code: "exitCode",
        omit signal: "signal",
        omit reason: "reason",
        omit message: "message",
        req started_at: "startedAt",
        req finished_at: "finishedAt",
        omit container_id: "containerID",
    }
    pb::LinuxContainerUser {
        req uid: "uid",
        req gid: "gid",
        list supplemental_groups: "supplementalGroups",
    }
    pb::ResourceHealth {
        req resource_id: "resourceID",
        omit health: "health",
    }
    pb::KeyToPath {
        req key: "key",
        req path: "path",
        ptr mode: "mode",
    }
    pb::DownwardAPIVolumeFile {
        req path: "path",
        ptr field_ref: "fieldRef",
        ptr resource_field_ref: "resourceFieldRef",
        ptr mode: "mode",
    }
    pb::VolumeProjection {
        ptr secret: "secret",
        ptr downward_api: "downwardAPI",
        ptr config_map: "configMap",
        ptr service_account_token: "serviceAccountToken",
        ptr cluster_trust_bundle: "clusterTrustBundle",
        ptr pod_certificate: "podCertificate",
    }
    pb::PersistentVolumeClaimTemplate {
        req metadata: "metadata",
        req spec: "spec",
    }
    pb::ObjectFieldSelector {
        omit api_version: "apiVersion",
        req field_path: "fieldPath",
    }
    pb::ResourceFieldSelector {
        omit container_name: "containerName",
        req resource: "resource",
        req divisor: "divisor",
    }
    pb::ConfigMapKeySelector {
        inline local_object_reference,
        req key: "key",
        ptr optional: "optional",
    }
    pb::SecretKeySelector {
        inline local_object_reference,
        req key: "key",
        ptr optional: "optional",
    }
    pb::FileKeySelector {
        req volume_name: "volumeName",
        req path: "path",
        req key: "key",
        ptr optional: "optional",
    }
    pb::ExecAction {
        list command: "command",
    }
    pb::HttpGetAction {
        omit path: "path",
        req port: "port",
        omit host: "host",
        omit scheme: "scheme",
        list http_headers: "httpHeaders",
    }
    pb::TcpSocketAction {
        req port: "port",
        omit host: "host",
    }
    pb::GrpcAction {
        req port: "port",
        ptr service: "service",
    }
    pb::SleepAction {
        req seconds: "seconds",
    }
    pb::NodeSelectorTerm {
        list match_expressions: "matchExpressions",
        list match_fields: "matchFields",
    }
    pb::SecretProjection {
        inline local_object_reference,
        list items: "items",
        ptr optional: "optional",
    }
    pb::DownwardAPIProjection {
        list items: "items",
    }
    pb::ConfigMapProjection {
        inline local_object_reference,
        list items: "items",
        ptr optional: "optional",
    }
    pb::ServiceAccountTokenProjection {
        omit audience: "audience",
        ptr expiration_seconds: "expirationSeconds",
        req path: "path",
    }
    pb::ClusterTrustBundleProjection {
        ptr name: "name",
        ptr signer_name: "signerName",
        ptr label_selector: "labelSelector",
        ptr optional: "optional",
        req path: "path",
    }
    pb::PodCertificateProjection {
        omit signer_name: "signerName",
        omit key_type: "keyType",
        ptr max_expiration_seconds: "maxExpirationSeconds",
        omit credential_bundle_path: "credentialBundlePath",
        omit key_path: "keyPath",
        omit certificate_chain_path: "certificateChainPath",
        map user_annotations: "userAnnotations",
    }
    pb::PersistentVolumeClaimSpec {
        list access_modes: "accessModes",
        ptr selector: "selector",
        req resources: "resources",
        omit volume_name: "volumeName",
        ptr storage_class_name: "storageClassName",
        ptr volume_mode: "volumeMode",
        ptr data_source: "dataSource",
        ptr data_source_ref: "dataSourceRef",
        ptr volume_attributes_class_name: "volumeAttributesClassName",
    }
    pb::HttpHeader {
        req name: "name",
        req value: "value",
    }
    pb::NodeSelectorRequirement {
        req key: "key",
        req operator: "operator",
        list values: "values",
    }
    pb::VolumeResourceRequirements {
        map limits: "limits",
        map requests: "requests",
    }
    pb::TypedLocalObjectReference {
        ptr api_group: "apiGroup",
        req kind: "kind",
        req name: "name",
    }
    pb::TypedObjectReference {
        ptr api_group: "apiGroup",
        req kind: "kind",
        req name: "name",
        ptr namespace: "namespace",
    }
}
