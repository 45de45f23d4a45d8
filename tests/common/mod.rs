//! Test harness: a scripted origin, the real `consent-gate` binary on ephemeral loopback ports,
//! and a raw HTTP/1.1 client that shows exactly what went over the wire.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a condition may take to hold before a test gives up: `CONSENT_GATE_TEST_PATIENCE_MS`
/// (default 20 s), so a slow machine can be given more time without editing tests.
pub fn patience() -> Duration {
    let ms = std::env::var("CONSENT_GATE_TEST_PATIENCE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    Duration::from_millis(ms)
}

/// Polls `check` until it gives a value and returns it; panics naming `what` when patience
/// runs out. Tests wait on conditions like this, never on fixed sleeps.
pub fn eventually<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + patience();
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Values of the header fields called `name` (case-insensitive), in order.
fn headers_named<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

/// A request as the origin received it.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        headers_named(&self.headers, name).into_iter().next()
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        headers_named(&self.headers, name)
    }
}

/// A response the origin sends.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send `Content-Length` (otherwise the body is chunked).
    pub content_length: bool,
    /// Send `body` this many times as chunks (a large streamed body without holding it).
    pub repeat: usize,
}

impl Reply {
    pub fn new(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            content_length: true,
            repeat: 1,
        }
    }
    pub fn ok(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Reply::new(200)
            .header("Content-Type", content_type)
            .body(body)
    }
    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }
    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = b.into();
        self
    }
    pub fn chunked(mut self) -> Self {
        self.content_length = false;
        self
    }
    /// Streams `body` `n` times, chunked.
    pub fn repeated(mut self, n: usize) -> Self {
        self.content_length = false;
        self.repeat = n;
        self
    }
}

type Handler = dyn Fn(&Request) -> Reply + Send + Sync;

/// A scripted HTTP/1.1 origin on an ephemeral loopback port; records every request.
pub struct Origin {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Request>>>,
}

fn read_head<R: BufRead>(r: &mut R) -> Option<(String, Vec<(String, String)>)> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let start = line.trim_end().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        if r.read_line(&mut l).ok()? == 0 {
            return None;
        }
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':')?;
        headers.push((k.trim().to_owned(), v.trim().to_owned()));
    }
    Some((start, headers))
}

fn read_chunked<R: BufRead>(r: &mut R) -> Vec<u8> {
    read_chunked_with(r, &mut |_| {}).0
}

/// Reads a chunked body, passing each chunk to `each`; returns the body and whether the
/// terminating chunk arrived.
fn read_chunked_with<R: BufRead>(r: &mut R, each: &mut dyn FnMut(&[u8])) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        if r.read_line(&mut size).unwrap_or(0) == 0 {
            return (body, false);
        }
        let Ok(n) = usize::from_str_radix(size.trim().split(';').next().unwrap_or("x"), 16) else {
            return (body, false);
        };
        if n == 0 {
            let mut end = String::new();
            let _ = r.read_line(&mut end);
            return (body, true);
        }
        let mut chunk = vec![0; n];
        if r.read_exact(&mut chunk).is_err() {
            return (body, false);
        }
        each(&chunk);
        body.extend_from_slice(&chunk);
        let mut crlf = [0; 2];
        let _ = r.read_exact(&mut crlf);
    }
}

impl Origin {
    pub fn start(handler: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
        let handler: Arc<Handler> = Arc::new(handler);
        let recorded = Arc::clone(&requests);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let handler = Arc::clone(&handler);
                let recorded = Arc::clone(&recorded);
                thread::spawn(move || serve(stream, &*handler, &recorded));
            }
        });
        Origin { addr, requests }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn last_request(&self) -> Request {
        self.requests()
            .pop()
            .expect("the origin received no request")
    }
}

fn serve(stream: TcpStream, handler: &Handler, recorded: &Mutex<Vec<Request>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some((start, headers)) = read_head(&mut reader) {
        let mut parts = start.split(' ');
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut req = Request {
            method,
            path,
            headers,
            body: Vec::new(),
        };
        if let Some(len) = req
            .header("content-length")
            .and_then(|v| v.parse::<usize>().ok())
        {
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            req.body = body;
        } else if req
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
        {
            req.body = read_chunked(&mut reader);
        }
        recorded.lock().unwrap().push(req.clone());
        let reply = handler(&req);
        let mut out = format!("HTTP/1.1 {} X\r\n", reply.status).into_bytes();
        for (k, v) in &reply.headers {
            out.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        let bodyless = req.method == "HEAD" || reply.status == 204 || reply.status == 304;
        if reply.content_length {
            out.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n", reply.body.len()).as_bytes(),
            );
            if !bodyless {
                out.extend_from_slice(&reply.body);
            }
        } else {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            if !bodyless && reply.repeat > 1 {
                if writer.write_all(&out).is_err() {
                    return;
                }
                out.clear();
                let mut frame = format!("{:x}\r\n", reply.body.len()).into_bytes();
                frame.extend_from_slice(&reply.body);
                frame.extend_from_slice(b"\r\n");
                for _ in 0..reply.repeat {
                    if writer.write_all(&frame).is_err() {
                        return;
                    }
                }
                out.extend_from_slice(b"0\r\n\r\n");
            } else if !bodyless {
                for chunk in reply.body.chunks(1000) {
                    out.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    out.extend_from_slice(chunk);
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
        if writer.write_all(&out).is_err() {
            return;
        }
    }
}

/// A response as the client received it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body's framing completed (terminating chunk, full length).
    pub complete: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        headers_named(&self.headers, name).into_iter().next()
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        headers_named(&self.headers, name)
    }
    /// Names of the cookies set by `Set-Cookie` lines that do not expire them.
    pub fn cookies_set(&self) -> Vec<String> {
        self.headers_named("set-cookie")
            .into_iter()
            .filter(|v| !v.contains("Max-Age=0"))
            .map(|v| v.split('=').next().unwrap().trim().to_owned())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one response from a buffered connection.
pub fn read_response<R: BufRead>(r: &mut R, head_request: bool) -> Option<Response> {
    let (start, headers) = read_head(r)?;
    let status = start.split(' ').nth(1)?.parse().ok()?;
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
        complete: true,
    };
    if head_request || status == 204 || status == 304 || (100..200).contains(&status) {
        return Some(resp);
    }
    if resp
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        let (body, complete) = read_chunked_with(r, &mut |_| {});
        resp.body = body;
        resp.complete = complete;
    } else if let Some(len) = resp
        .header("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut body = vec![0; len];
        resp.complete = r.read_exact(&mut body).is_ok();
        resp.body = body;
    } else {
        r.read_to_end(&mut resp.body).ok()?;
    }
    Some(resp)
}

/// Sends one request with a body on a new connection and reads the response.
pub fn request_with_body(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, method == "HEAD").expect("no complete response")
}

/// Sends one request on a new connection and reads the response.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req.push_str("Host: www.example.com\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, method == "HEAD").expect("no complete response")
}

pub fn get(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Response {
    request(addr, "GET", path, headers)
}

/// A free loopback port for a server the test starts in another process.
///
/// The port has to be released before that process binds it, so it must be one nobody else
/// takes in between: the kernel hands out ports from `ip_local_port_range` (32768-60999 by
/// default) to every `bind(:0)` and outgoing connection, so a port from that range is soon
/// reused by a parallel test's origin. Ports here come from 20000-32767 instead, each test
/// process walking its own sequence (offset by its pid) and checking each port by binding it.
pub fn free_addr() -> SocketAddr {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 32_768 - FIRST;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(7_919) % COUNT;
    for _ in 0..COUNT {
        let step = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = FIRST + (start + step) % COUNT;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port as u16)) {
            return l.local_addr().unwrap();
        }
    }
    panic!("no free loopback port in {FIRST}-32767");
}

pub fn binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_consent-gate"))
}

/// A child process killed (and reaped) when dropped, unless taken.
pub struct KillOnDrop(pub Option<Child>);

impl KillOnDrop {
    pub fn get(&mut self) -> &mut Child {
        self.0.as_mut().expect("the child was taken")
    }

    pub fn take(&mut self) -> Child {
        self.0.take().expect("the child was taken")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The real proxy process.
pub struct Proxy {
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Proxy {
    /// Starts the proxy with `sites` (TOML `[[site]]` tables; `{origin}` is replaced by the
    /// origin address) and the given rule files, then waits until it serves.
    pub fn start(origin: SocketAddr, sites: &str, extra: &str, rules: &[(&str, &str)]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in rules {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let names: Vec<&str> = rules.iter().map(|(name, _)| *name).collect();
        let config = config_text(dir.path(), origin, &names, extra, sites);
        Self::start_raw(dir, &config)
    }

    /// Starts the proxy with a complete config text written to `dir/config.toml`.
    pub fn start_raw(dir: tempfile::TempDir, config: &str) -> Proxy {
        Self::start_raw_with(dir, config, &[], "warn")
    }

    /// Like `start_raw`, with extra command-line arguments and a log filter; stderr goes to
    /// `dir/proxy.log`.
    pub fn start_raw_with(
        dir: tempfile::TempDir,
        config: &str,
        args: &[&str],
        log_filter: &str,
    ) -> Proxy {
        let mut config = config.to_owned();
        // Ports come from bind-then-release, so another process may take one before the proxy
        // binds it: then the proxy exits with "Address already in use" and starts again on
        // fresh ports.
        for _ in 0..5 {
            match Self::spawn(&dir, &config, args, log_filter) {
                Ok((addr, admin, child)) => {
                    return Proxy {
                        addr,
                        admin,
                        dir,
                        child,
                    };
                }
                Err(taken) => {
                    for addr in taken {
                        config = config.replace(&addr.to_string(), &free_addr().to_string());
                    }
                }
            }
        }
        panic!("consent-gate could not bind its ports in five attempts");
    }

    /// Starts the process and waits until it is ready; `Err` with the addresses it found taken
    /// (its log says so) when it could not bind them.
    fn spawn(
        dir: &tempfile::TempDir,
        config: &str,
        args: &[&str],
        log_filter: &str,
    ) -> Result<(SocketAddr, SocketAddr, Child), Vec<SocketAddr>> {
        let config_path = dir.path().join("config.toml");
        std::fs::write(&config_path, config).unwrap();
        let addr_line = config
            .lines()
            .find(|l| l.starts_with("listen = [\""))
            .expect("listen line");
        let addr: SocketAddr = addr_line
            .trim_start_matches("listen = [\"")
            .trim_end_matches("\"]")
            .parse()
            .unwrap();
        let admin_line = config
            .lines()
            .find(|l| l.starts_with("listen = \""))
            .expect("admin listen line");
        let admin: SocketAddr = admin_line
            .trim_start_matches("listen = \"")
            .trim_end_matches('"')
            .parse()
            .unwrap();
        let log_path = dir.path().join("proxy.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let child = Command::new(binary())
            .args(args)
            .args(["run", "--config"])
            .arg(&config_path)
            .env("RUST_LOG", log_filter)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        // Killed if anything below panics, so a failed start leaves no process behind.
        let mut child = KillOnDrop(Some(child));
        // An address another process holds: the proxy logs it (and exits, or keeps retrying
        // when the address was taken after its start-up check), so start again on fresh ports.
        let taken = || {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let addrs: Vec<SocketAddr> = log
                .lines()
                .filter(|l| l.contains("in use"))
                .flat_map(|l| {
                    l.split(|c: char| c.is_whitespace() || c == ',')
                        .filter_map(|w| w.trim_end_matches(':').parse().ok())
                        .collect::<Vec<SocketAddr>>()
                })
                .collect();
            (!addrs.is_empty()).then_some(addrs)
        };
        let ready = eventually("consent-gate is ready", || {
            if let Some(addrs) = taken() {
                return Some(Err(addrs));
            }
            if let Some(status) = child.get().try_wait().unwrap() {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                panic!("consent-gate exited during start-up: {status}\n{log}");
            }
            let admin_up =
                TcpStream::connect(admin).is_ok_and(|_| get(admin, "/readyz", &[]).status == 200);
            (admin_up && TcpStream::connect(addr).is_ok()).then_some(Ok(()))
        });
        match ready.and_then(|()| taken().map_or(Ok(()), Err)) {
            Ok(()) => Ok((addr, admin, child.take())),
            Err(addrs) => Err(addrs),
        }
    }

    /// Everything the proxy logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("proxy.log")).unwrap_or_default()
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        get(self.addr, path, headers)
    }

    /// The Prometheus text from the admin listener.
    pub fn metrics(&self) -> String {
        get(self.admin, "/metrics", &[]).text()
    }

    /// The value of the sample of metric `name` carrying all `labels`, 0 if absent.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&self.metrics(), name, labels)
    }

    /// Peak resident memory of the proxy process, bytes (VmHWM).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    /// The proxy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal (by name, e.g. "HUP") to the proxy.
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Polls `check` until it holds or `within` passes; returns how long it took.
    pub fn wait_until(
        &self,
        within: Duration,
        mut check: impl FnMut() -> bool,
    ) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < within {
            if check() {
                return Some(start.elapsed());
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    pub fn config_dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if thread::panicking() {
            let logs = self.logs();
            let tail: Vec<&str> = logs.lines().rev().take(30).collect();
            eprintln!("--- last proxy log lines ---");
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The curated rules shipped in `conf/`.
pub fn curated_rules() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/rules/curated.toml"))
        .unwrap()
}

/// The value of the sample of metric `name` carrying all `labels` in Prometheus text, 0 if absent.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// Sends a GET and streams the response body through `each` chunk without keeping it; returns
/// the response head, the body length and whether it completed.
pub fn get_streaming(
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    each: &mut dyn FnMut(&[u8]),
) -> (Response, u64, bool) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: www.example.com\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut reader = BufReader::with_capacity(1 << 16, stream);
    let (start, headers) = read_head(&mut reader).expect("no response head");
    let status = start.split(' ').nth(1).unwrap().parse().unwrap();
    let resp = Response {
        status,
        headers,
        body: Vec::new(),
        complete: false,
    };
    let mut total = 0u64;
    let mut count = |c: &[u8]| {
        total += c.len() as u64;
        each(c);
    };
    let complete = if resp.header("transfer-encoding").is_some() {
        let mut size = String::new();
        let mut done = false;
        loop {
            size.clear();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                break;
            };
            if n == 0 {
                done = true;
                break;
            }
            let mut chunk = vec![0; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                break;
            }
            count(&chunk[..n]);
        }
        done
    } else {
        let mut buf = vec![0; 1 << 16];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => count(&buf[..n]),
            }
        }
        true
    };
    (resp, total, complete)
}

/// A config text for `start_raw`: fresh loopback ports, the given rule files, extra sections and
/// sites (`{origin}` replaced).
pub fn config_text(
    dir: &Path,
    origin: SocketAddr,
    rule_files: &[&str],
    extra: &str,
    sites: &str,
) -> String {
    let files: Vec<String> = rule_files.iter().map(|f| format!("{f:?}")).collect();
    format!(
        "[server]\nlisten = [\"{addr}\"]\nthreads = 2\ngrace_period_seconds = 0\ngraceful_shutdown_timeout_seconds = 1\npid_file = \"{pid}\"\nupgrade_sock = \"{sock}\"\n\n[admin]\nlisten = \"{admin}\"\n\n[rules]\nfiles = [{files}]\n\n{extra}\n\n{sites}\n",
        addr = free_addr(),
        admin = free_addr(),
        pid = dir.join("pid").display(),
        sock = dir.join("upgrade.sock").display(),
        files = files.join(", "),
        sites = sites.replace("{origin}", &origin.to_string()),
    )
}
