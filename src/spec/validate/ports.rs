//! Host ports across the whole repository: every replica of every process
//! publishes `host_port + replica - 1`, and no two may take the same
//! (ip, port, protocol).

use super::Validator;
use crate::diag::Diagnostic;
use crate::spec::values::PortSpec;
use crate::spec::AppFile;
use crate::spec::At;

/// One published host-port range: a port entry times the replicas of its process.
struct Published<'a> {
    app: &'a str,
    path: &'a str,
    process: &'a str,
    at: &'a At<PortSpec>,
    ip: Option<String>,
    first: u32,
    last: u32,
    protocol: String,
}

impl Validator<'_> {
    /// Two ports of any apps that the engine could not both bind.
    pub(super) fn port_clashes(&mut self, apps: &[AppFile]) {
        let mut published: Vec<Published> = Vec::new();
        for app in apps {
            for (process, spec) in app.spec.processes.iter().flatten() {
                let replicas = spec.replicas.as_ref().map_or(1, |r| r.value);
                for at in &spec.ports {
                    let port = &at.value;
                    if replicas == 0 {
                        continue;
                    }
                    let first = u32::from(port.host_port);
                    let last = first + replicas - 1;
                    if last > 65535 {
                        self.err(
                            &app.path,
                            at,
                            format!(
                                "replica {replicas} of process `{}` would publish host port {last}, above 65535",
                                process.value
                            ),
                        );
                    }
                    published.push(Published {
                        app: &app.name,
                        path: &app.path,
                        process,
                        at,
                        ip: port.host_ip.clone().filter(|ip| ip != "0.0.0.0" && ip != "::"),
                        first,
                        last: last.min(65535),
                        protocol: port.protocol.clone(),
                    });
                }
            }
        }
        let mut found = Vec::new();
        for (j, b) in published.iter().enumerate() {
            // Report each entry once, against the first entry it clashes with.
            let clash = published[..j].iter().find(|a| {
                a.protocol == b.protocol
                    && (a.ip.is_none() || b.ip.is_none() || a.ip == b.ip)
                    && a.first <= b.last
                    && b.first <= a.last
            });
            if let Some(a) = clash {
                let port = a.first.max(b.first);
                let replica = |p: &Published| match port - p.first + 1 {
                    1 => String::new(),
                    n => format!(" replica {n}"),
                };
                let message = format!(
                    "host port {port}/{} of app `{}` process `{}`{} is also published by app `{}` process `{}`{} ({}:{}:{})",
                    b.protocol, b.app, b.process, replica(b), a.app, a.process, replica(a), a.path, a.at.line, a.at.col
                );
                let hint = "every replica i publishes host port + i - 1; pick host ports that do not overlap";
                found.push(Diagnostic::new(b.path, b.at.line, b.at.col, message).hint(hint));
            }
        }
        self.diags.extend(found);
    }
}
