//! The browser's transport for the client core: a `WebSocket` whose every
//! binary message is one netcode datagram ([`WsTransport`]), opened per
//! connection by [`WebDialer`] to the URL the login or transfer named.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use tickforge_client_core::transport::{Dialer, Endpoint, Transport};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, MessageEvent, WebSocket};

/// Datagrams kept while the socket is still opening (netcode resends its
/// handshake anyway; the newest few are enough).
const PENDING_LIMIT: usize = 16;
/// Datagrams received and not yet read, at most (as a socket buffer).
const INBOX_LIMIT: usize = 4096;

/// What the socket's callbacks share with the transport.
#[derive(Default)]
struct Shared {
    inbox: VecDeque<Vec<u8>>,
    closed: Option<String>,
}

/// One WebSocket to a game server.
pub struct WsTransport {
    socket: WebSocket,
    shared: Rc<RefCell<Shared>>,
    pending: VecDeque<Vec<u8>>,
    /// Bytes and messages received (the WebSocket payloads, framing not counted).
    pub received: (u64, u64),
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(web_sys::CloseEvent)>,
}

impl Drop for WsTransport {
    fn drop(&mut self) {
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
        let _ = self.socket.close();
    }
}

fn js_error(what: &str, e: &wasm_bindgen::JsValue) -> io::Error {
    io::Error::other(format!("{what}: {e:?}"))
}

impl WsTransport {
    /// Opens a WebSocket to `url`.
    pub fn open(url: &str) -> io::Result<Self> {
        let socket = WebSocket::new(url).map_err(|e| js_error("cannot open WebSocket", &e))?;
        socket.set_binary_type(BinaryType::Arraybuffer);
        let shared = Rc::new(RefCell::new(Shared::default()));
        let inbox = shared.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            if let Ok(buffer) = event.data().dyn_into::<js_sys::ArrayBuffer>() {
                let mut shared = inbox.borrow_mut();
                if shared.inbox.len() < INBOX_LIMIT {
                    shared.inbox.push_back(js_sys::Uint8Array::new(&buffer).to_vec());
                }
            }
        });
        let closed = shared.clone();
        let on_close = Closure::<dyn FnMut(web_sys::CloseEvent)>::new(move |event: web_sys::CloseEvent| {
            closed.borrow_mut().closed = Some(format!("WebSocket closed ({}: {})", event.code(), event.reason()));
        });
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Self {
            socket,
            shared,
            pending: VecDeque::new(),
            received: (0, 0),
            _on_message: on_message,
            _on_close: on_close,
        })
    }

    fn flush_pending(&mut self) {
        while let Some(datagram) = self.pending.pop_front() {
            let _ = self.socket.send_with_u8_array(&datagram);
        }
    }
}

impl Transport for WsTransport {
    fn send(&mut self, _to: SocketAddr, datagram: &[u8]) {
        match self.socket.ready_state() {
            WebSocket::OPEN => {
                self.flush_pending();
                if let Err(e) = self.socket.send_with_u8_array(datagram) {
                    tracing::debug!(error = ?e, "WebSocket send failed");
                }
            }
            WebSocket::CONNECTING => {
                if self.pending.len() == PENDING_LIMIT {
                    self.pending.pop_front();
                }
                self.pending.push_back(datagram.to_vec());
            }
            _ => {}
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<Option<(usize, Option<SocketAddr>)>> {
        if self.socket.ready_state() == WebSocket::OPEN && !self.pending.is_empty() {
            self.flush_pending();
        }
        let mut shared = self.shared.borrow_mut();
        match shared.inbox.pop_front() {
            Some(datagram) => {
                let len = datagram.len().min(buf.len());
                buf[..len].copy_from_slice(&datagram[..len]);
                self.received.0 += datagram.len() as u64;
                self.received.1 += 1;
                Ok(Some((len, None)))
            }
            None => match &shared.closed {
                Some(why) => Err(io::Error::new(io::ErrorKind::ConnectionAborted, why.clone())),
                None => Ok(None),
            },
        }
    }
}

/// Opens a WebSocket to the first URL the server is listed with.
#[derive(Debug, Default)]
pub struct WebDialer;

impl Dialer for WebDialer {
    type Transport = WsTransport;

    fn dial(&mut self, server: &Endpoint) -> io::Result<WsTransport> {
        let url = server.ws.first().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("the server {} lists no WebSocket URL", server.udp))
        })?;
        WsTransport::open(url)
    }
}
