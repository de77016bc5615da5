//! HTTP from a chosen loopback source address (127.0.0.2, 127.0.0.3, …),
//! so a test can play an attacker and a bystander on one machine. A
//! minimal HTTP/1.1 client over one `Connection: close` request, with a
//! client-side timeout: an answer that does not come is an error, not a
//! hang.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::Reply;

/// The longest any request here waits for its whole answer.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// A TCP connection to `to` from `from` (port chosen by the kernel).
pub fn connect(from: IpAddr, to: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(to), Type::STREAM, Some(Protocol::TCP))?;
    socket.bind(&SockAddr::from(SocketAddr::new(from, 0)))?;
    socket.connect_timeout(&SockAddr::from(to), CLIENT_TIMEOUT)?;
    Ok(socket.into())
}

/// The `host:port` of an `http://host:port` base URL.
pub fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("http://").trim_end_matches('/').parse().unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// One request from `from` to `base` (an `http://host:port` URL); the body,
/// if any, is sent as JSON. Errors on a refused, reset or unanswered
/// connection (no answer within [`CLIENT_TIMEOUT`]).
pub fn request(from: IpAddr, base: &str, method: &str, path: &str, body: Option<&str>) -> std::io::Result<Reply> {
    let mut stream = connect(from, addr_of(base))?;
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let body = body.unwrap_or("");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse(&raw).ok_or_else(|| std::io::Error::other(format!("not an HTTP answer: {:?}", String::from_utf8_lossy(&raw))))
}

/// POSTs JSON `body` from `from`.
pub fn post(from: IpAddr, base: &str, path: &str, body: &str) -> std::io::Result<Reply> {
    request(from, base, "POST", path, Some(body))
}

/// GETs `path` from `from`.
pub fn get(from: IpAddr, base: &str, path: &str) -> std::io::Result<Reply> {
    request(from, base, "GET", path, None)
}

fn parse(raw: &[u8]) -> Option<Reply> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let mut body = raw[split + 4..].to_vec();
    if header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        body = unchunk(&body)?;
    }
    Some(Reply {
        status,
        content_type: header("content-type").unwrap_or_default(),
        retry_after: header("retry-after"),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn unchunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..end]).ok()?.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}
