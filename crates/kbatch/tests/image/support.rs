//! What the image tests build for themselves: a busybox image (layers as tars, an OCI layout,
//! a `docker save` archive), Debian's docker-registry on a free loopback port (open, basic
//! auth, or token auth with a token server of the test's own), pushes with oci-client, and
//! the `kbatch image` command.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use oci_client::client::{ClientConfig, ClientProtocol, Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sha2::Digest as _;

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
pub const BUSYBOX: &str = "/bin/busybox";

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{:x}", sha2::Sha256::digest(b))
}

/// GOARCH of this build.
pub fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// A test image: uncompressed layer tars and the config naming their digests.
pub struct TestImage {
    pub layers: Vec<Vec<u8>>,
    pub config: Vec<u8>,
}

fn header(kind: tar::EntryType, mode: u32, size: usize) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size as u64);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn add_dir(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
    let mut h = header(tar::EntryType::Directory, mode, 0);
    b.append_data(&mut h, path, &[][..]).unwrap();
}

fn add_file(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]) {
    let mut h = header(tar::EntryType::Regular, mode, data.len());
    b.append_data(&mut h, path, data).unwrap();
}

fn add_symlink(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = header(tar::EntryType::Symlink, 0o777, 0);
    b.append_link(&mut h, path, target).unwrap();
}

/// busybox as /bin/busybox with applet links, an ENTRYPOINT and a CMD; a second layer
/// rewrites /etc/motd and whites out /etc/old.
pub fn busybox_image() -> TestImage {
    let busybox = std::fs::read(BUSYBOX).expect("busybox-static is installed");
    let mut b = tar::Builder::new(Vec::new());
    add_dir(&mut b, "bin", 0o755);
    add_file(&mut b, "bin/busybox", 0o755, &busybox);
    for applet in ["sh", "echo", "cat", "ls", "sleep", "true"] {
        add_symlink(&mut b, &format!("bin/{applet}"), "busybox");
    }
    add_dir(&mut b, "etc", 0o755);
    add_file(&mut b, "etc/motd", 0o644, b"layer one\n");
    add_file(&mut b, "etc/old", 0o644, b"remove me\n");
    add_dir(&mut b, "tmp", 0o1777);
    let one = b.into_inner().unwrap();

    let mut b = tar::Builder::new(Vec::new());
    add_dir(&mut b, "etc", 0o755);
    add_file(&mut b, "etc/.wh.old", 0o644, b"");
    add_file(&mut b, "etc/motd", 0o644, b"layer two\n");
    let two = b.into_inner().unwrap();

    let layers = vec![one, two];
    let config = config(
        goarch(),
        &layers,
        serde_json::json!({
            "Entrypoint": ["/bin/busybox"],
            "Cmd": ["echo", "hello from the image"],
            "Env": ["PATH=/bin"],
            "WorkingDir": "/"
        }),
    );
    TestImage { layers, config }
}

/// A one-layer image for another architecture, to sit beside busybox in an index.
pub fn other_arch_image(arch: &str) -> TestImage {
    let mut b = tar::Builder::new(Vec::new());
    add_file(&mut b, "etc/arch", 0o644, arch.as_bytes());
    let layers = vec![b.into_inner().unwrap()];
    let config = config(arch, &layers, serde_json::json!({"Cmd": ["wrong-arch"]}));
    TestImage { layers, config }
}

fn config(arch: &str, layers: &[Vec<u8>], runtime: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "created": "2025-01-02T03:04:05Z",
        "architecture": arch,
        "os": "linux",
        "config": runtime,
        "rootfs": {
            "type": "layers",
            "diff_ids": layers.iter().map(|l| sha256(l)).collect::<Vec<_>>()
        }
    }))
    .unwrap()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(data, 3).unwrap()
}

/// Writes an OCI image layout with gzip layers, its one image named `ref_name`.
pub fn write_oci_layout(dir: &Path, img: &TestImage, ref_name: &str) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = sha256(b);
        std::fs::write(blobs.join(&d[7..]), b).unwrap();
        d
    };
    let layers: Vec<_> = img
        .layers
        .iter()
        .map(|l| {
            let gz = gzip(l);
            serde_json::json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": put(&gz),
                "size": gz.len()
            })
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": put(&img.config),
            "size": img.config.len()
        },
        "layers": layers
    }))
    .unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": put(&manifest),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": ref_name}
        }]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion": "1.0.0"}"#).unwrap();
}

/// Writes a `docker save` archive: `<config digest>.json`, `<n>/layer.tar`, manifest.json.
pub fn write_docker_save(path: &Path, img: &TestImage, tags: &[&str]) {
    let mut b = tar::Builder::new(std::fs::File::create(path).unwrap());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len());
        b.append_data(&mut h, name, data).unwrap();
    };
    let cfg_name = format!("{}.json", &sha256(&img.config)[7..]);
    add(&cfg_name, &img.config);
    let mut names = Vec::new();
    for (i, l) in img.layers.iter().enumerate() {
        let n = format!("layer{i}/layer.tar");
        add(&n, l);
        names.push(n);
    }
    let manifest = serde_json::json!([{"Config": cfg_name, "RepoTags": tags, "Layers": names}]);
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    b.finish().unwrap();
}

/// A loopback port nobody listens on (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// How the registry authenticates.
pub enum Auth {
    None,
    /// htpasswd with one bcrypt user.
    Basic {
        user: String,
        password: String,
    },
    /// Bearer tokens from `realm`, signed by the key of the certificate at `cert`.
    Token {
        realm: String,
        cert: PathBuf,
    },
}

/// Debian's docker-registry, on a free loopback port, storing in a temp dir.
pub struct Registry {
    child: Child,
    pub addr: String,
    pub dir: tempfile::TempDir,
}

impl Registry {
    /// None when docker-registry is not installed.
    pub fn start(auth: Auth) -> Option<Registry> {
        if !Path::new(REGISTRY_BIN).exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let addr = format!("127.0.0.1:{}", free_port());
        let auth_yaml = match auth {
            Auth::None => String::new(),
            Auth::Basic { user, password } => {
                let hash = bcrypt::hash(password, 4).unwrap();
                let file = dir.path().join("htpasswd");
                std::fs::write(&file, format!("{user}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: kbatch-test\n    path: {}\n",
                    file.display()
                )
            }
            Auth::Token { realm, cert } => format!(
                "auth:\n  token:\n    realm: {realm}\n    service: kbatch-registry\n    issuer: kbatch-test\n    rootcertbundle: {}\n",
                cert.display()
            ),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n{auth_yaml}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let log = std::fs::File::create(dir.path().join("registry.log")).unwrap();
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_path)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let mut r = Registry { child, addr, dir };
        r.wait_ready();
        Some(r)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// Waits (patiently: the machine is shared) until /v2/ answers at all.
    fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("docker-registry exited ({status}):\n{}", self.log());
            }
            if let Ok(mut s) = TcpStream::connect(&self.addr) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = write!(s, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
                let mut first = String::new();
                if BufReader::new(s).read_line(&mut first).is_ok() && first.starts_with("HTTP/") {
                    return;
                }
            }
            if start.elapsed() > Duration::from_secs(120) {
                panic!("docker-registry did not come up:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An oci-client speaking plain HTTP, for pushing.
pub fn push_client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::try_from(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    })
    .unwrap()
}

pub const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Pushes an image with its layers compressed as `media_type` says; returns the manifest's
/// digest and size.
pub async fn push(
    client: &Client,
    reference: &str,
    img: &TestImage,
    media_type: &str,
    auth: &RegistryAuth,
) -> (String, usize) {
    let r: Reference = reference.parse().unwrap();
    let layers: Vec<ImageLayer> = img
        .layers
        .iter()
        .map(|l| {
            let data = if media_type == ZSTD { zstd(l) } else { gzip(l) };
            ImageLayer::new(data, media_type.to_owned(), None)
        })
        .collect();
    let config = Config::new(
        img.config.clone(),
        "application/vnd.oci.image.config.v1+json".to_owned(),
        None,
    );
    let manifest = oci_client::manifest::OciImageManifest::build(&layers, &config, None);
    client
        .push(&r, &layers, config, auth, Some(manifest))
        .await
        .unwrap_or_else(|e| panic!("pushing {reference}: {e}"));
    // What the registry serves for the tag: the manifest's bytes, digest and size.
    let (bytes, digest) = client
        .pull_manifest_raw(&r, auth, &[oci_client::manifest::OCI_IMAGE_MEDIA_TYPE])
        .await
        .unwrap();
    assert_eq!(digest, sha256(&bytes));
    (digest, bytes.len())
}

/// Pushes an OCI index of `(manifest digest, size, arch)` entries under `reference`.
pub async fn push_index(client: &Client, reference: &str, entries: &[(String, usize, &str)]) {
    let r: Reference = reference.parse().unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": entries.iter().map(|(d, size, arch)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": d,
            "size": size,
            "platform": {"architecture": arch, "os": "linux"}
        })).collect::<Vec<_>>()
    });
    client
        .push_manifest_raw(
            &r,
            serde_json::to_vec(&index).unwrap(),
            http::HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
        )
        .await
        .unwrap();
}

/// `kbatch image ARGS --data-dir DATA`.
pub fn kbatch_image(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kbatch"))
        .arg("image")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("DOCKER_CONFIG", data.join("no-docker-config"))
        .env("KBATCH_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run kbatch")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A docker config.json with one registry's credentials.
pub fn docker_config(dir: &Path, registry: &str, user: &str, password: &str) -> PathBuf {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("config.json");
    std::fs::write(
        &path,
        serde_json::to_vec(&serde_json::json!({"auths": {registry: {"auth": auth}}})).unwrap(),
    )
    .unwrap();
    path
}

/// A registry token server: `GET /token?service=…&scope=…` with the right basic credentials
/// answers a JWT the registry trusts (ES256, signed by the key of a self-signed certificate
/// the registry has as its root bundle); anything else is 401.
pub struct TokenServer {
    pub realm: String,
    pub cert: PathBuf,
    _dir: tempfile::TempDir,
}

impl TokenServer {
    pub fn start(user: &str, password: &str) -> TokenServer {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["kbatch-test-token".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let cert_path = dir.path().join("token.pem");
        std::fs::write(&cert_path, cert.pem()).unwrap();
        let der = cert.der().to_vec();
        let pkcs8 = key.serialize_der();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let realm = format!("http://{}/token", listener.local_addr().unwrap());
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let _ = serve_token(conn, &expected, &der, &pkcs8);
            }
        });
        TokenServer {
            realm,
            cert: cert_path,
            _dir: dir,
        }
    }
}

fn serve_token(conn: TcpStream, expected: &str, der: &[u8], pkcs8: &[u8]) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut authorized = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.eq_ignore_ascii_case("authorization")
        {
            authorized = v.trim() == expected;
        }
    }
    let mut conn = conn;
    if !authorized {
        let body = r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#;
        write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        return Ok(());
    }
    let path = request_line.split(' ').nth(1).unwrap_or("");
    let query = path.split_once('?').map_or("", |(_, q)| q);
    let mut access = Vec::new();
    for pair in query.split('&') {
        if let Some(scope) = pair.strip_prefix("scope=") {
            let scope = percent_decode(scope);
            // repository:NAME:ACTIONS
            let mut parts = scope.splitn(3, ':');
            if let (Some(kind), Some(name), Some(actions)) =
                (parts.next(), parts.next(), parts.next())
            {
                access.push(serde_json::json!({
                    "type": kind, "name": name,
                    "actions": actions.split(',').collect::<Vec<_>>()
                }));
            }
        }
    }
    let token = jwt(der, pkcs8, access);
    let body = serde_json::to_string(
        &serde_json::json!({"token": token, "access_token": token, "expires_in": 300}),
    )
    .unwrap();
    write!(
        conn,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    Ok(())
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn jwt(der: &[u8], pkcs8: &[u8], access: Vec<serde_json::Value>) -> String {
    let b64url = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = serde_json::json!({
        "typ": "JWT",
        "alg": "ES256",
        "x5c": [base64::engine::general_purpose::STANDARD.encode(der)]
    });
    let claims = serde_json::json!({
        "iss": "kbatch-test",
        "sub": "tester",
        "aud": "kbatch-registry",
        "exp": now + 300,
        "nbf": now - 60,
        "iat": now,
        "jti": format!("{now}-{}", access.len()),
        "access": access
    });
    let signing_input = format!(
        "{}.{}",
        b64url(&serde_json::to_vec(&header).unwrap()),
        b64url(&serde_json::to_vec(&claims).unwrap())
    );
    let rng = ring::rand::SystemRandom::new();
    let key = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8,
        &rng,
    )
    .unwrap();
    let sig = key.sign(&rng, signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64url(sig.as_ref()))
}
