//! Test certificates: a throwaway CA and a server certificate for `localhost` / 127.0.0.1, as PEM files.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tempfile::TempDir;

use crate::tempdirs;

/// PEM files of a freshly generated CA and a server certificate signed by it, valid for `localhost` and
/// `127.0.0.1` (ECDSA P-256). The files live in a temp dir removed when this value is dropped.
#[derive(Debug)]
pub struct TlsFiles {
    dir: TempDir,
    /// The server certificate (PEM), signed by the CA.
    pub cert: PathBuf,
    /// The server's private key (PEM, PKCS#8).
    pub key: PathBuf,
    /// The CA certificate (PEM): what clients trust.
    pub ca: PathBuf,
    /// The CA certificate's PEM text.
    pub ca_pem: String,
}

impl TlsFiles {
    /// Generates a CA and a server certificate and writes `server.pem`, `server.key` and `ca.pem`.
    pub fn generate() -> TlsFiles {
        let dir = tempdirs::create("tls", None);

        let ca_key = KeyPair::generate().expect("generate CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "Shardgate test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).expect("self-sign CA");

        let key = KeyPair::generate().expect("generate server key");
        // Strings that parse as IP addresses become IP SANs.
        let mut params =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).expect("server params");
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .expect("sign server certificate");

        let files = TlsFiles {
            cert: dir.path().join("server.pem"),
            key: dir.path().join("server.key"),
            ca: dir.path().join("ca.pem"),
            ca_pem: ca_cert.pem(),
            dir,
        };
        write(&files.cert, &cert.pem());
        write(&files.key, &key.serialize_pem());
        write(&files.ca, &files.ca_pem);
        files
    }

    /// The directory holding the files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Client TLS options for `mysql_async` that trust only this CA (and check the server name).
    pub fn client_ssl_opts(&self) -> mysql_async::SslOpts {
        mysql_async::SslOpts::default().with_root_certs(vec![self.ca.clone().into()])
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
