//! The cluster as a whole: the health of every member and whether they agree on the data.

pub(crate) mod health;
pub(crate) mod repair;

use std::time::{Duration, Instant};

use tonic::transport::ClientTlsConfig;

use crate::etcd::{ConnectConfig, EtcdError, Session};

/// Opens sessions to any member with one set of TLS files and limits.
pub(crate) struct Connector {
    pub tls: Option<ClientTlsConfig>,
    pub config: ConnectConfig,
    pub run_timeout: Duration,
    pub deadline: Instant,
}

impl Connector {
    pub(crate) fn session(&self, endpoint: &str) -> Result<Session, EtcdError> {
        Session::connect(
            endpoint,
            self.tls.as_ref(),
            &self.config,
            self.run_timeout,
            self.deadline,
        )
    }
}
