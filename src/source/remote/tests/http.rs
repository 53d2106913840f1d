//! A tiny HTTP server in front of `git http-backend` (CGI) on 127.0.0.1,
//! which wants a token as the password of HTTP Basic auth, as a git host
//! does. It logs every request it serves, and the protocol-v2 command of
//! each POST (`ls-refs`, `fetch`), so a test can tell asking from fetching.

use base64::Engine as _;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

pub struct GitHttp {
    pub port: u16,
    /// `METHOD path command` per request; `401` for a refused one.
    pub log: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl GitHttp {
    /// Serve the repositories in `root` to whoever knows `password`.
    pub fn start(root: &Path, password: &str) -> GitHttp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (root, password, l, s) = (root.to_path_buf(), password.to_string(), log.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (root, password, log) = (root.clone(), password.clone(), l.clone());
                std::thread::spawn(move || {
                    if let Err(e) = serve(stream, &root, &password, &log) {
                        eprintln!("test http server: {e}");
                    }
                });
            }
        });
        GitHttp { port, log, stop }
    }

    pub fn url(&self, repo: &str) -> String {
        format!("http://127.0.0.1:{}/{repo}", self.port)
    }

    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for GitHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // wakes the accept loop
    }
}

fn serve(stream: TcpStream, root: &Path, password: &str, log: &Mutex<Vec<String>>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let (method, target) = (words.next().unwrap_or_default().to_string(), words.next().unwrap_or_default().to_string());
    let mut headers = BTreeMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let body = read_body(&mut reader, &headers)?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    let authorized = headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .is_some_and(|up| up.split_once(':').is_some_and(|(_, p)| p == password));
    if !authorized {
        log.lock().unwrap().push(format!("401 {method} {path}"));
        let refused = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        return out.write_all(refused.as_bytes());
    }
    let text = String::from_utf8_lossy(&body);
    let after = text.split("command=").nth(1).unwrap_or_default();
    let command = ["ls-refs", "fetch"].into_iter().find(|c| after.starts_with(c)).unwrap_or_default();
    log.lock().unwrap().push(format!("{method} {path} {command}"));

    let mut cgi = Command::new("git");
    cgi.arg("http-backend")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REQUEST_METHOD", &method)
        .env("PATH_INFO", path)
        .env("QUERY_STRING", query)
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (header, var) in [
        ("content-type", "CONTENT_TYPE"),
        ("content-encoding", "HTTP_CONTENT_ENCODING"),
        ("git-protocol", "GIT_PROTOCOL"),
    ] {
        if let Some(v) = headers.get(header) {
            cgi.env(var, v);
        }
    }
    let mut child = cgi.spawn()?;
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || stdin.write_all(&body));
    let mut output = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut output)?;
    child.wait()?;
    let _ = feeder.join();

    // CGI output: headers, a blank line, the body.
    let split = find(&output, b"\r\n\r\n").map(|i| (i, 4)).or_else(|| find(&output, b"\n\n").map(|i| (i, 2)));
    let (head, body) = match split {
        Some((i, n)) => (String::from_utf8_lossy(&output[..i]).into_owned(), output[i + n..].to_vec()),
        None => (String::new(), output),
    };
    let mut status = "200 OK".to_string();
    let mut response = String::new();
    for h in head.lines() {
        match h.split_once(':') {
            Some((k, v)) if k.eq_ignore_ascii_case("status") => status = v.trim().to_string(),
            Some(_) => response.push_str(&format!("{h}\r\n")),
            None => {}
        }
    }
    out.write_all(
        format!("HTTP/1.1 {status}\r\n{response}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len())
            .as_bytes(),
    )?;
    out.write_all(&body)
}

fn read_body(reader: &mut BufReader<TcpStream>, headers: &BTreeMap<String, String>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if let Some(n) = headers.get("content-length").and_then(|n| n.parse::<usize>().ok()) {
        body.resize(n, 0);
        reader.read_exact(&mut body)?;
    } else if headers.get("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size)?;
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
            let mut chunk = vec![0; n + 2]; // the chunk and its CRLF
            reader.read_exact(&mut chunk)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(body)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
