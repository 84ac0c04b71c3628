//! An etcd cluster on loopback for the store's tests and benchmarks: Debian's etcd-server
//! binary started as child processes on free ports with temporary data directories, waited
//! for until it answers, SIGKILLed on drop. Optionally with TLS for clients (certificates made
//! with rcgen, client certificates required).

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kbatch_store::{EtcdOptions, EtcdStore, EtcdTls};

/// A guard against a hang: generous, it only turns a hung test into a failure.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// One etcd member: a child process on loopback ports with its data directory.
#[derive(Debug)]
pub struct Member {
    name: String,
    client_port: u16,
    peer_port: u16,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

/// Certificates for a TLS cluster, made with rcgen.
#[derive(Debug)]
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
}

/// A cluster of etcd members started for one test; killed on drop.
#[derive(Debug)]
pub struct Cluster {
    pub dir: tempfile::TempDir,
    pub members: Vec<Member>,
    pub pki: Option<Pki>,
}

pub fn etcd_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("etcd"))
        .find(|candidate| candidate.is_file())
}

/// `None` (after saying so) when this machine has no etcd.
pub fn etcd_or_skip(test: &str) -> Option<PathBuf> {
    let found = etcd_binary();
    if found.is_none() {
        eprintln!("SKIPPED {test}: no `etcd` binary on the PATH (apt-get install etcd-server)");
    }
    found
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Cluster {
    /// Starts `size` members on free loopback ports (with TLS for clients when `tls`) and waits
    /// until the cluster answers linearizable reads; `None` when etcd is not installed.
    pub async fn start(test: &str, size: usize, tls: bool) -> Option<Cluster> {
        const ATTEMPTS: usize = 3;
        let binary = etcd_or_skip(test)?;
        let dir = tempfile::tempdir().expect("temp dir");
        let pki = tls.then(|| make_pki(dir.path()));
        let mut cluster = Cluster {
            dir,
            members: Vec::new(),
            pki,
        };
        // A port found free can be taken by another test before etcd binds it; then the
        // cluster starts afresh on other ports.
        for attempt in 1..=ATTEMPTS {
            cluster.members = (0..size)
                .map(|i| Member {
                    name: format!("m{i}"),
                    client_port: free_port(),
                    peer_port: free_port(),
                    data_dir: cluster.dir.path().join(format!("{attempt}-m{i}.etcd")),
                    log: cluster.dir.path().join(format!("{attempt}-m{i}.log")),
                    child: None,
                })
                .collect();
            for i in 0..size {
                cluster.spawn(&binary, i);
            }
            match cluster.wait_ready().await {
                Ok(()) => return Some(cluster),
                Err(why) if attempt < ATTEMPTS && why.contains("address already in use") => {
                    for i in 0..size {
                        cluster.kill(i);
                    }
                }
                Err(why) => panic!("{why}"),
            }
        }
        panic!("etcd did not start in {ATTEMPTS} attempts");
    }

    fn scheme(&self) -> &'static str {
        if self.pki.is_some() { "https" } else { "http" }
    }

    pub fn endpoint(&self, i: usize) -> String {
        format!(
            "{}://127.0.0.1:{}",
            self.scheme(),
            self.members[i].client_port
        )
    }

    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    fn spawn(&mut self, binary: &Path, i: usize) {
        let initial_cluster = self
            .members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let client_url = self.endpoint(i);
        let token = self.dir.path().display().to_string();
        let member = &self.members[i];
        let peer_url = format!("http://127.0.0.1:{}", member.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&member.log)
            .expect("etcd log file");
        let mut command = Command::new(binary);
        command
            .arg(format!("--name={}", member.name))
            .arg(format!("--data-dir={}", member.data_dir.display()))
            .arg(format!("--listen-client-urls={client_url}"))
            .arg(format!("--advertise-client-urls={client_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster={initial_cluster}"))
            .arg(format!("--initial-cluster-token={token}"))
            .arg("--initial-cluster-state=new")
            // Short raft timings so that elections take a fraction of a second.
            .arg("--heartbeat-interval=50")
            .arg("--election-timeout=500")
            .arg("--logger=zap")
            .arg("--log-level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        if let Some(pki) = &self.pki {
            command
                .arg(format!("--cert-file={}", pki.server_cert.display()))
                .arg(format!("--key-file={}", pki.server_key.display()))
                .arg(format!("--trusted-ca-file={}", pki.ca.display()))
                .arg("--client-cert-auth");
        }
        self.members[i].child = Some(command.spawn().expect("starting etcd"));
    }

    /// Waits until every running member has answered a linearizable read (so the cluster has a
    /// leader and each member is reachable); an error with the member's log if one exits.
    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        for i in 0..self.members.len() {
            if self.members[i].child.is_none() {
                continue;
            }
            loop {
                self.check_running(i)?;
                let mut options = self.options(vec![self.endpoint(i)], "");
                options.request_timeout = Duration::from_secs(2);
                let error = match EtcdStore::connect(options).await {
                    Ok(_) => break,
                    Err(error) => error,
                };
                if Instant::now() > deadline {
                    return Err(format!("etcd member {i} never answered: {error}"));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }

    fn check_running(&mut self, i: usize) -> Result<(), String> {
        let member = &mut self.members[i];
        if let Some(child) = member.child.as_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            let log = std::fs::read_to_string(&member.log).unwrap_or_default();
            return Err(format!(
                "etcd member {} exited ({status}):\n{log}",
                member.name
            ));
        }
        Ok(())
    }

    /// The index of the raft leader, as the members report it.
    pub async fn leader(&self) -> usize {
        for i in 0..self.members.len() {
            let mut client = etcd_client::Client::connect([self.endpoint(i)], None)
                .await
                .expect("etcd client");
            let status = client.status().await.expect("member status");
            let member = status.header().map(|h| h.member_id());
            if member == Some(status.leader()) {
                return i;
            }
        }
        panic!("no member says it leads");
    }

    /// SIGKILLs member `i` (and reaps it).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its ports and data, and waits until it answers.
    pub async fn restart(&mut self, i: usize) {
        let binary = etcd_binary().expect("etcd was there when the cluster started");
        self.spawn(&binary, i);
        if let Err(why) = self.wait_ready().await {
            panic!("{why}");
        }
    }

    /// Store settings for `endpoints`, with this cluster's client certificate when it has TLS.
    pub fn options(&self, endpoints: Vec<String>, prefix: &str) -> EtcdOptions {
        let mut options = EtcdOptions::new(endpoints);
        options.prefix = prefix.to_owned();
        options.tls = self.pki.as_ref().map(|pki| EtcdTls {
            ca_file: pki.ca.clone(),
            cert_file: Some(pki.client_cert.clone()),
            key_file: Some(pki.client_key.clone()),
        });
        options
    }

    pub async fn store(&self, prefix: &str) -> EtcdStore {
        EtcdStore::connect(self.options(self.endpoints(), prefix))
            .await
            .expect("connecting to etcd")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// A CA, a serving certificate for 127.0.0.1 and a client certificate, as PEM files in `dir`.
pub fn make_pki(dir: &Path) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        SanType,
    };
    std::fs::create_dir_all(dir).expect("creating the PKI directory");
    let write = |name: &str, pem: String| {
        let path = dir.join(name);
        std::fs::write(&path, pem).expect("writing a PEM file");
        path
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.clone().self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, &ca_key);

    let server_key = KeyPair::generate().unwrap();
    let mut server = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    server
        .subject_alt_names
        .push(SanType::IpAddress(Ipv4Addr::LOCALHOST.into()));
    server.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    let server_cert = server.signed_by(&server_key, &issuer).unwrap();

    let client_key = KeyPair::generate().unwrap();
    let mut client = CertificateParams::new(Vec::<String>::new()).unwrap();
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &issuer).unwrap();

    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server-key.pem", server_key.serialize_pem()),
        client_cert: write("client.pem", client_cert.pem()),
        client_key: write("client-key.pem", client_key.serialize_pem()),
    }
}
