//! Batched UDP system calls for the Tickforge transport.
//!
//! Three calls std does not wrap, on Linux:
//! - [`send_many`]: datagrams to many peers in one `sendmmsg`;
//! - [`send_segments`]: equal-size datagrams to one peer in one `sendmsg`
//!   with `UDP_SEGMENT` (GSO: the kernel splits them), where [`has_gso`];
//! - [`recv_many`]: up to a batch of datagrams in one `recvmmsg`.
//!
//! Elsewhere each falls back to one `send_to` / `recv_from` per datagram,
//! so callers have one path. This is the workspace's only crate with
//! `unsafe` code; every block says why it holds.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Most datagrams one [`send_many`] call hands the kernel (its `UIO_MAXIOV`).
pub const MAX_BATCH: usize = 1024;
/// Most segments in one [`send_segments`] call (the kernel's `UDP_MAX_SEGMENTS`).
pub const MAX_SEGMENTS: usize = 64;
/// Most bytes in one [`send_segments`] call (one IP datagram's payload).
pub const MAX_SEGMENTED_BYTES: usize = 65_000;

/// Sends each `(peer, datagram)` of `datagrams` (at most [`MAX_BATCH`] are
/// tried); returns how many the kernel took, from the first. An error means
/// the first was refused (as `send_to` would have refused it).
pub fn send_many(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
    let datagrams = &datagrams[..datagrams.len().min(MAX_BATCH)];
    if datagrams.is_empty() {
        return Ok(0);
    }
    #[cfg(target_os = "linux")]
    {
        linux::send_many(socket, datagrams)
    }
    #[cfg(not(target_os = "linux"))]
    {
        socket.send_to(datagrams[0].1, datagrams[0].0).map(|_| 1)
    }
}

/// Sends `segments` to `peer` as separate datagrams in one call, the
/// kernel splitting them (GSO): all as long as the first but the last,
/// which may be shorter; at most [`MAX_SEGMENTS`] and
/// [`MAX_SEGMENTED_BYTES`] in all. Callers check [`has_gso`] first; an
/// error of kind `Unsupported` means the device cannot segment (nothing
/// was sent).
pub fn send_segments(socket: &UdpSocket, peer: SocketAddr, segments: &[&[u8]]) -> io::Result<()> {
    let Some(first) = segments.first() else { return Ok(()) };
    let total: usize = segments.iter().map(|s| s.len()).sum();
    let uniform = segments
        .split_last()
        .is_some_and(|(last, rest)| last.len() <= first.len() && rest.iter().all(|s| s.len() == first.len()));
    if !uniform || segments.len() > MAX_SEGMENTS || total > MAX_SEGMENTED_BYTES || first.is_empty() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "segments not of one size, or too many"));
    }
    #[cfg(target_os = "linux")]
    {
        linux::send_segments(socket, peer, segments, first.len() as u16)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (socket, peer);
        Err(io::Error::new(io::ErrorKind::Unsupported, "no UDP segmentation here"))
    }
}

/// Whether the socket's kernel knows UDP segmentation (Linux 4.18 and later).
pub fn has_gso(socket: &UdpSocket) -> bool {
    #[cfg(target_os = "linux")]
    {
        linux::has_gso(socket)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = socket;
        false
    }
}

/// Reads up to `buffers.len()` datagrams without blocking, one per buffer,
/// appending each one's length and sender to `got` (in the order of the
/// buffers). Returns `WouldBlock` when nothing is waiting. A datagram
/// longer than its buffer is cut to the buffer's length.
pub fn recv_many(socket: &UdpSocket, buffers: &mut [Box<[u8]>], got: &mut Vec<(usize, SocketAddr)>) -> io::Result<()> {
    if buffers.is_empty() {
        return Ok(());
    }
    #[cfg(target_os = "linux")]
    {
        linux::recv_many(socket, buffers, got)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let pair = socket.recv_from(&mut buffers[0])?;
        got.push(pair);
        Ok(())
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::mem::{size_of, zeroed};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
    use std::os::fd::AsRawFd;

    /// `addr` as the kernel's socket address, and its length.
    fn to_raw(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
        // SAFETY: sockaddr_storage is plain integers; all zeroes is a valid value.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(v4) => {
                // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in.
                let sin = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = v4.port().to_be();
                sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(v6) => {
                // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in6.
                let sin6 = unsafe { &mut *(&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = v6.port().to_be();
                sin6.sin6_flowinfo = v6.flowinfo();
                sin6.sin6_addr = libc::in6_addr { s6_addr: v6.ip().octets() };
                sin6.sin6_scope_id = v6.scope_id();
                size_of::<libc::sockaddr_in6>()
            }
        };
        (storage, len as libc::socklen_t)
    }

    /// The kernel's socket address as std's, if it is an IP one.
    fn from_raw(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
        match i32::from(storage.ss_family) {
            libc::AF_INET if len as usize >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in, which it is aligned for.
                let sin = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
            }
            libc::AF_INET6 if len as usize >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says the storage holds a sockaddr_in6, which it is aligned for.
                let sin6 = unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }

    /// A message header with no address, data or control yet.
    fn empty_header() -> libc::msghdr {
        // SAFETY: msghdr is pointers and integers; all zeroes (null pointers, zero lengths) is valid.
        unsafe { zeroed() }
    }

    pub(super) fn send_many(socket: &UdpSocket, datagrams: &[(SocketAddr, &[u8])]) -> io::Result<usize> {
        let mut addrs: Vec<(libc::sockaddr_storage, libc::socklen_t)> =
            datagrams.iter().map(|(addr, _)| to_raw(*addr)).collect();
        let mut iovs: Vec<libc::iovec> = datagrams
            .iter()
            .map(|(_, bytes)| libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = addrs
            .iter_mut()
            .zip(iovs.iter_mut())
            .map(|((storage, len), iov)| {
                let mut msg_hdr = empty_header();
                msg_hdr.msg_name = (storage as *mut libc::sockaddr_storage).cast();
                msg_hdr.msg_namelen = *len;
                msg_hdr.msg_iov = iov;
                msg_hdr.msg_iovlen = 1;
                libc::mmsghdr { msg_hdr, msg_len: 0 }
            })
            .collect();
        loop {
            // SAFETY: every header points at an address and one iovec that
            // live (in `addrs`, `iovs`) until this call returns, each iovec
            // at a datagram borrowed for the call; the kernel only reads them
            // and writes each header's msg_len.
            let sent =
                unsafe { libc::sendmmsg(socket.as_raw_fd(), headers.as_mut_ptr(), headers.len() as libc::c_uint, 0) };
            if sent >= 0 {
                return Ok(sent as usize);
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        }
    }

    pub(super) fn send_segments(
        socket: &UdpSocket,
        peer: SocketAddr,
        segments: &[&[u8]],
        segment_size: u16,
    ) -> io::Result<()> {
        let (mut storage, len) = to_raw(peer);
        let mut iovs: Vec<libc::iovec> = segments
            .iter()
            .map(|bytes| libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() })
            .collect();
        // Room for one control message holding a u16, kept aligned for cmsghdr.
        let mut control = [0u64; 4];
        // SAFETY: CMSG_SPACE only computes a size.
        let space = unsafe { libc::CMSG_SPACE(size_of::<u16>() as u32) } as usize;
        debug_assert!(space <= size_of::<[u64; 4]>());
        let mut header = empty_header();
        header.msg_name = (&mut storage as *mut libc::sockaddr_storage).cast();
        header.msg_namelen = len;
        header.msg_iov = iovs.as_mut_ptr();
        header.msg_iovlen = iovs.len();
        header.msg_control = control.as_mut_ptr().cast();
        header.msg_controllen = space;
        // SAFETY: the header's control buffer is `space` bytes, enough for one
        // cmsghdr and a u16, so CMSG_FIRSTHDR is not null and its data fits.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&header);
            (*cmsg).cmsg_level = libc::SOL_UDP;
            (*cmsg).cmsg_type = libc::UDP_SEGMENT;
            (*cmsg).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<u16>(), segment_size);
        }
        loop {
            // SAFETY: the header points at the address, the iovecs (each at a
            // borrowed segment) and the control buffer, all alive for the call.
            let sent = unsafe { libc::sendmsg(socket.as_raw_fd(), &header, 0) };
            if sent >= 0 {
                return Ok(());
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(libc::EINTR) => continue,
                // The device or the route cannot segment.
                Some(libc::EIO | libc::EINVAL | libc::EOPNOTSUPP | libc::ENOPROTOOPT) => {
                    return Err(io::Error::new(io::ErrorKind::Unsupported, error));
                }
                _ => return Err(error),
            }
        }
    }

    pub(super) fn has_gso(socket: &UdpSocket) -> bool {
        let mut value: libc::c_int = 0;
        let mut len = size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` and `len` are valid for writes of a c_int and its length.
        let r = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::SOL_UDP,
                libc::UDP_SEGMENT,
                (&mut value as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        r == 0
    }

    pub(super) fn recv_many(
        socket: &UdpSocket,
        buffers: &mut [Box<[u8]>],
        got: &mut Vec<(usize, SocketAddr)>,
    ) -> io::Result<()> {
        let count = buffers.len().min(super::MAX_BATCH);
        // SAFETY: sockaddr_storage is plain integers; all zeroes is valid.
        let mut addrs: Vec<libc::sockaddr_storage> = (0..count).map(|_| unsafe { zeroed() }).collect();
        let mut iovs: Vec<libc::iovec> = buffers[..count]
            .iter_mut()
            .map(|b| libc::iovec { iov_base: b.as_mut_ptr().cast(), iov_len: b.len() })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = addrs
            .iter_mut()
            .zip(iovs.iter_mut())
            .map(|(storage, iov)| {
                let mut msg_hdr = empty_header();
                msg_hdr.msg_name = (storage as *mut libc::sockaddr_storage).cast();
                msg_hdr.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                msg_hdr.msg_iov = iov;
                msg_hdr.msg_iovlen = 1;
                libc::mmsghdr { msg_hdr, msg_len: 0 }
            })
            .collect();
        let read = loop {
            // SAFETY: every header points at an address buffer of its stated
            // length and one iovec over a buffer of its stated length, all
            // alive until the call returns; no timeout is passed.
            let read = unsafe {
                libc::recvmmsg(
                    socket.as_raw_fd(),
                    headers.as_mut_ptr(),
                    count as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if read >= 0 {
                break read as usize;
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(error);
            }
        };
        for (header, storage) in headers[..read].iter().zip(&addrs) {
            if let Some(addr) = from_raw(storage, header.msg_hdr.msg_namelen) {
                got.push((header.msg_len as usize, addr));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn bound() -> UdpSocket {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.set_nonblocking(true).unwrap();
        socket
    }

    /// Reads until `want` datagrams arrived or two seconds passed.
    fn drain(socket: &UdpSocket, want: usize) -> Vec<(Vec<u8>, SocketAddr)> {
        let mut buffers: Vec<Box<[u8]>> = (0..8).map(|_| vec![0; 1500].into_boxed_slice()).collect();
        let mut out = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(2);
        while out.len() < want && Instant::now() < deadline {
            let mut got = Vec::new();
            match recv_many(socket, &mut buffers, &mut got) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(2)),
                Err(e) => panic!("recv: {e}"),
            }
            for (i, (len, from)) in got.into_iter().enumerate() {
                out.push((buffers[i][..len].to_vec(), from));
            }
        }
        out
    }

    /// One call reaches two peers, each datagram whole and from the sender.
    #[test]
    fn send_many_reaches_every_peer_in_order() {
        let (sender, a, b) = (bound(), bound(), bound());
        let (to_a, to_b) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 100 + usize::from(i)]).collect();
        let batch: Vec<(SocketAddr, &[u8])> =
            payloads.iter().enumerate().map(|(i, p)| (if i % 2 == 0 { to_a } else { to_b }, p.as_slice())).collect();
        assert_eq!(send_many(&sender, &batch).unwrap(), 10);
        let at_a = drain(&a, 5);
        let at_b = drain(&b, 5);
        let want = |parity: usize| -> Vec<Vec<u8>> {
            payloads.iter().enumerate().filter(|(i, _)| i % 2 == parity).map(|(_, p)| p.clone()).collect()
        };
        assert_eq!(at_a.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), want(0));
        assert_eq!(at_b.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>(), want(1));
        assert!(at_a.iter().chain(&at_b).all(|(_, from)| *from == sender.local_addr().unwrap()));
    }

    /// Segments arrive as separate datagrams, the shorter last one too (or,
    /// where the kernel has no GSO, the call says so and sends nothing).
    #[test]
    fn segments_arrive_as_separate_datagrams() {
        let (sender, peer) = (bound(), bound());
        let segments: Vec<Vec<u8>> = vec![vec![1; 500], vec![2; 500], vec![3; 500], vec![4; 120]];
        let slices: Vec<&[u8]> = segments.iter().map(Vec::as_slice).collect();
        if !has_gso(&sender) {
            let e = send_segments(&sender, peer.local_addr().unwrap(), &slices).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::Unsupported);
            return;
        }
        send_segments(&sender, peer.local_addr().unwrap(), &slices).unwrap();
        let got: Vec<Vec<u8>> = drain(&peer, 4).into_iter().map(|(p, _)| p).collect();
        assert_eq!(got, segments);
    }

    /// Segments of mixed sizes are refused before any system call.
    #[test]
    fn uneven_segments_are_refused() {
        let (sender, peer) = (bound(), bound());
        let e = send_segments(&sender, peer.local_addr().unwrap(), &[&[0; 100], &[0; 200]]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    /// Nothing waiting: `WouldBlock`, and nothing appended.
    #[test]
    fn an_empty_socket_would_block() {
        let socket = bound();
        let mut buffers: Vec<Box<[u8]>> = vec![vec![0; 64].into_boxed_slice()];
        let mut got = Vec::new();
        let e = recv_many(&socket, &mut buffers, &mut got).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert!(got.is_empty());
    }
}
